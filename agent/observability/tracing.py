"""OpenTelemetry export of the framework's own spans and metrics, off unless configured.

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, each job process (prewarm) installs an SDK tracer
provider with the OTLP exporter (`OTEL_EXPORTER_OTLP_PROTOCOL`: http/protobuf or grpc; the
other standard `OTEL_EXPORTER_OTLP_*` variables, e.g. headers, are read by the exporter) as
livekit-agents' tracer provider, and a meter provider for its `lk.agents.*` turn and usage
metrics. The spans are the framework's: agent_session, user_turn, agent_turn, llm_node,
tts_node, function_tool, ...

Conversation content never leaves the process: the provider is installed with
`allow_pii=False`, so the framework strips transcripts, prompts and tool payloads from span
attributes before any exporter sees them (the call record keeps the redacted transcript).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import urlparse

from livekit.agents import telemetry
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from ..config import Settings

logger = logging.getLogger("phone-agent.tracing")


@dataclass
class Telemetry:
    """The providers installed in this process; `flush` before the job process exits."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider | None

    async def flush(self) -> None:
        self.tracer_provider.force_flush(timeout_millis=5000)
        if self.meter_provider is not None:
            self.meter_provider.force_flush(timeout_millis=5000)


def otlp_exporters(endpoint: str, protocol: str) -> tuple[SpanExporter, MetricExporter]:
    """The standard OTLP exporters for `endpoint` (the base URL, as in the OTel spec: the
    HTTP exporters get /v1/traces and /v1/metrics appended, gRPC takes it as is)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=endpoint), GrpcMetricExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    base = endpoint.rstrip("/")
    return (OTLPSpanExporter(endpoint=f"{base}/v1/traces"),
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))


def configure(settings: Settings, *, span_exporter: SpanExporter | None = None,
              metric_reader: MetricReader | None = None) -> Telemetry | None:
    """Install the providers for this process. Without an endpoint (and without exporters
    passed in, as tests do) nothing is installed and None is returned."""
    if span_exporter is None:
        if not settings.otel_endpoint:
            return None
        span_exporter, metric_exporter = otlp_exporters(settings.otel_endpoint,
                                                        settings.otel_protocol)
        metric_reader = PeriodicExportingMetricReader(metric_exporter)
    # OTEL_SERVICE_NAME, when set, names the service; otherwise the agent's name does.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {
        SERVICE_NAME: settings.agent_name}
    resource = Resource.create(attributes)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    telemetry.set_tracer_provider(tracer_provider, allow_pii=False)
    meter_provider = None
    if metric_reader is not None:
        meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
        otel_metrics.set_meter_provider(meter_provider)
    if settings.otel_endpoint:  # host and port only: a URL may carry credentials
        where = urlparse(settings.otel_endpoint)
        logger.info("exporting OpenTelemetry traces and metrics (%s) to %s:%s",
                    settings.otel_protocol, where.hostname, where.port or "default port")
    return Telemetry(tracer_provider, meter_provider)
