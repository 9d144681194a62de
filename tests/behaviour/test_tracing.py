"""OpenTelemetry export (agent/observability/tracing.py): the framework's spans of a real
AgentSession reach the exporter, without conversation content; the standard OTLP exporters
deliver spans and metrics to a collector (here a local OTLP/HTTP receiver)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from livekit.agents import AgentSession, telemetry
from livekit.plugins import openai
from opentelemetry import trace as trace_api
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.assistant import PhoneAssistant
from agent.call_state import CallerInfo, CallState
from agent.config import load_settings
from agent.observability import tracing
from agent.providers import DEEPSEEK_EXTRA_BODY
from emulators import ProviderEmulators
from emulators.llm_script import Script, reply

GOOD = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 40, "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789", "ELEVEN_API_KEY": "el-0123456789",
}
GREETING = "Hi, you're speaking with Northwind's AI assistant. How can I help?"
SECRET_QUESTION = "my name is Zebulon Quarrington and my PIN is 8642"
ANSWER = "Thanks Zebulon, let me look that up for you."


@pytest.fixture
def restore_tracer() -> Iterator[None]:
    yield
    telemetry.set_tracer_provider(trace_api.NoOpTracerProvider())


def test_nothing_is_exported_without_an_endpoint() -> None:
    assert tracing.configure(load_settings(GOOD)) is None


async def test_session_spans_reach_the_exporter_without_conversation_content(
        restore_tracer: None) -> None:
    exporter = InMemorySpanExporter()
    exported = tracing.configure(load_settings(GOOD), span_exporter=exporter)
    assert exported is not None and exported.meter_provider is None
    state = CallState(room_name="r", caller=CallerInfo(identity="sip_x", kind="sip",
                                                       phone_number="+14155550142"))
    async with ProviderEmulators(script=Script([reply(GREETING, when="greet the caller"),
                                                reply(ANSWER, when="PIN")])) as emu:
        llm = openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                         api_key=emu.env()["DEEPSEEK_API_KEY"], extra_body=DEEPSEEK_EXTRA_BODY)
        async with AgentSession[CallState](llm=llm, userdata=state) as session:
            await session.start(PhoneAssistant(state=state))
            result = await session.run(user_input=SECRET_QUESTION)
            result.expect.next_event().is_message(role="assistant")
    await exported.flush()
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert {"agent_session", "agent_turn", "llm_node"} <= names, names
    assert all(s.resource.attributes["service.name"] == "phone-agent" for s in spans)
    # allow_pii=False: what the caller said and what the model answered stay in-process.
    dumped = " ".join(f"{k}={v}" for s in spans for k, v in (s.attributes or {}).items())
    dumped += " ".join(e.name + str(dict(e.attributes or {})) for s in spans for e in s.events)
    for secret in ("Zebulon", "Quarrington", "8642", "0142"):
        assert secret not in dumped, secret


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, dict[str, list[bytes]]]]:
    """A local OTLP/HTTP receiver: records the bodies POSTed to /v1/traces and /v1/metrics."""
    received: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/metrics": []}

    async def accept(request: web.Request) -> web.Response:
        received[request.path].append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", accept)
    app.router.add_post("/v1/metrics", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


async def test_otlp_http_exporters_deliver_spans_and_metrics(
        collector: tuple[str, dict[str, list[bytes]]], restore_tracer: None) -> None:
    endpoint, received = collector
    memory = InMemorySpanExporter()
    exported = tracing.configure(load_settings(GOOD), span_exporter=memory)
    assert exported is not None
    with telemetry.tracer.start_as_current_span("agent_turn"):
        pass
    await exported.flush()
    span_exporter, metric_exporter = tracing.otlp_exporters(endpoint, "http/protobuf")
    result = await asyncio.to_thread(span_exporter.export, list(memory.get_finished_spans()))
    assert result is SpanExportResult.SUCCESS
    request = ExportTraceServiceRequest.FromString(received["/v1/traces"][0])
    names = {s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert names == {"agent_turn"}

    meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(metric_exporter)])
    meters.get_meter("test").create_histogram("lk.agents.turn.e2e_latency", unit="s").record(1.2)
    await asyncio.to_thread(meters.force_flush, 5000)
    await asyncio.to_thread(meters.shutdown)
    sent = ExportMetricsServiceRequest.FromString(received["/v1/metrics"][0])
    metric_names = {m.name for rm in sent.resource_metrics for sm in rm.scope_metrics
                    for m in sm.metrics}
    assert "lk.agents.turn.e2e_latency" in metric_names
