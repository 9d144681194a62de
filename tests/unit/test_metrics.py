"""The worker's Prometheus metrics: declarations, label values, what each hook counts, and
collection across the worker's processes (the way AgentServer runs them)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError, ToolError
from livekit.agents.llm import LLMError
from livekit.agents.voice.events import ErrorEvent
from livekit.plugins import deepgram, elevenlabs, openai
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from agent import metrics_dir
from agent.data.audit import TOOL_RESULTS, tool_result
from agent.data.repository import Repository
from agent.observability import metrics
from agent.tools import check_order_status
from agent.tools.audit import audited
from agent.tools.verification import NotAllowed
from tests.unit import test_tool_guards as guards

make_ctx = guards.make_ctx
repo = guards.repo  # the seeded-database fixture

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- declarations ---------------------------------------------------------------------------

def test_every_family_follows_prometheus_naming_and_has_labels() -> None:
    assert len(FAMILIES) >= 20
    for family in FAMILIES:
        name = family._name
        assert name.startswith("phone_agent_"), name
        if isinstance(family, Counter):
            # prometheus_client strips "_total" from the stored name and adds it back
            assert not name.endswith("_total") and f"{name}_total"
        if isinstance(family, Histogram):
            assert name.endswith("_seconds"), f"{name}: histograms are in seconds"
        # A label-less family would create its sample file at import, before AgentServer
        # empties the directory (see the module docstring).
        assert family._labelnames, f"{name} has no labels"
        assert not {"room", "call", "caller", "phone", "number"} & set(family._labelnames)


def test_counter_names_end_in_total_on_the_endpoint() -> None:
    names = {m.name + ("_total" if m.type == "counter" else "")
             for m in REGISTRY.collect() if m.name.startswith("phone_agent_")}
    assert "phone_agent_calls_total" in names
    assert "phone_agent_provider_errors_total" in names
    assert "phone_agent_turn_latency_seconds" in names


# --- label values ---------------------------------------------------------------------------

def test_error_kinds_are_bounded_names() -> None:
    assert metrics.error_kind(APIStatusError("x", status_code=503)) == "http_5xx"
    assert metrics.error_kind(APIStatusError("x", status_code=429)) == "rate_limited"
    assert metrics.error_kind(APIStatusError("x", status_code=401)) == "http_4xx"
    assert metrics.error_kind(APITimeoutError()) == "timeout"
    assert metrics.error_kind(APIConnectionError()) == "connection"
    assert metrics.error_kind(RuntimeError("anything at all")) == "other"


def test_provider_labels_name_the_plugin_not_the_host() -> None:
    assert metrics.provider_label(deepgram.STT(api_key="k")) == "deepgram"
    assert metrics.provider_label(elevenlabs.TTS(api_key="k")) == "elevenlabs"
    llm = openai.LLM(model="deepseek-v4-flash", base_url="http://127.0.0.1:8700/v1",
                     api_key="k")
    assert llm.provider == "127.0.0.1:8700"  # what the plugin reports: not a label value
    assert metrics.provider_label(llm) == "openai"
    assert metrics.provider_label(None) == "none"
    assert metrics.provider_label(object()) == "other"


def test_tool_outcomes_map_to_five_results() -> None:
    assert set(TOOL_RESULTS.values()) == set(metrics.TOOL_RESULTS)
    assert tool_result("awaiting_confirmation") == "ok"
    assert tool_result("denied") == "refused" and tool_result("not_confirmed") == "refused"
    assert tool_result("invalid_arguments") == "invalid" and tool_result("error") == "invalid"
    assert tool_result("failure") == "error" and tool_result("something new") == "error"


# --- what the hooks count -------------------------------------------------------------------

def test_turn_items_feed_latency_stages_and_barge_ins() -> None:
    before = {
        "latency": value("phone_agent_turn_latency_seconds_count", channel="sip"),
        "ttft": value("phone_agent_turn_stage_seconds_count", stage="llm_ttft", channel="sip"),
        "eot": value("phone_agent_turn_stage_seconds_count", stage="end_of_turn",
                     channel="sip"),
        "turns": value("phone_agent_user_turns_total", channel="sip"),
        "barge": value("phone_agent_barge_ins_total", channel="sip"),
        "said": value("phone_agent_agent_utterances_total", channel="sip"),
    }
    metrics.record_turn_item("user", {"end_of_turn_delay": 0.31, "transcription_delay": 0.2},
                             False, "sip")
    metrics.record_turn_item("assistant", {"e2e_latency": 1.1, "llm_node_ttft": 0.4,
                                           "tts_node_ttfb": 0.15}, True, "sip")
    metrics.record_turn_item("assistant", {}, False, "sip")  # the greeting: no latency
    assert value("phone_agent_turn_latency_seconds_count", channel="sip") == \
        before["latency"] + 1
    assert value("phone_agent_turn_stage_seconds_count", stage="llm_ttft",
                 channel="sip") == before["ttft"] + 1
    assert value("phone_agent_turn_stage_seconds_count", stage="end_of_turn",
                 channel="sip") == before["eot"] + 1
    assert value("phone_agent_user_turns_total", channel="sip") == before["turns"] + 1
    assert value("phone_agent_barge_ins_total", channel="sip") == before["barge"] + 1
    assert value("phone_agent_agent_utterances_total", channel="sip") == before["said"] + 2


def test_provider_errors_are_counted_by_stage_provider_kind() -> None:
    labels = {"stage": "llm", "provider": "openai", "kind": "http_5xx", "recoverable": "false"}
    before = value("phone_agent_provider_errors_total", **labels)
    llm = openai.LLM(model="m", base_url="http://127.0.0.1:1/v1", api_key="k")
    err = LLMError(timestamp=0.0, label="openai", recoverable=False,
                   error=APIStatusError("upstream down", status_code=503))
    assert metrics.record_provider_error(ErrorEvent(error=err, source=llm)) == \
        ("llm", "openai", "http_5xx")
    assert value("phone_agent_provider_errors_total", **labels) == before + 1


def test_calls_transfers_and_load() -> None:
    ended = {"direction": "outbound", "channel": "sip", "ended_by": "voicemail"}
    before = value("phone_agent_calls_total", **ended)
    refer_ok = value("phone_agent_transfers_total", route="refer", result="ok")
    warm_failed = value("phone_agent_transfers_total", route="warm", result="failed")
    metrics.record_call_ended("outbound", "sip", "voicemail")
    metrics.record_call_ended("inbound", "standard", None)
    metrics.record_call_event("transfer")
    metrics.record_call_event("warm_transfer_failed")
    metrics.record_call_event("outbound")  # not a transfer: not counted
    metrics.record_load("phone-agent-unit", 3, 8)
    assert value("phone_agent_calls_total", **ended) == before + 1
    assert value("phone_agent_calls_total", direction="inbound", channel="browser",
                 ended_by="unknown") >= 1
    assert value("phone_agent_transfers_total", route="refer", result="ok") == refer_ok + 1
    assert value("phone_agent_transfers_total", route="warm", result="failed") == \
        warm_failed + 1
    assert value("phone_agent_active_calls", agent="phone-agent-unit") == 3
    assert value("phone_agent_call_capacity", agent="phone-agent-unit") == 8


async def test_tool_calls_are_counted_by_result_with_latency(repo: Repository) -> None:
    @audited("read")
    async def metrics_probe(ctx: Any, what: str = "") -> str:
        if what == "bad":
            raise ToolError("That date isn't valid.")
        if what == "no":
            raise NotAllowed("not yet")
        if what == "boom":
            raise RuntimeError("db down")
        return "fine"

    def count(result: str) -> float:
        return value("phone_agent_tool_calls_total", tool="metrics_probe", result=result)

    ctx = make_ctx(repo)  # an unverified caller
    latency_before = value("phone_agent_tool_latency_seconds_count", tool="metrics_probe")
    assert await metrics_probe(ctx, what="") == "fine"
    for what in ("bad", "no", "boom"):
        with pytest.raises(ToolError):
            await metrics_probe(ctx, what=what)
    assert (count("ok"), count("invalid"), count("refused"), count("error")) == (1, 1, 1, 1)
    assert value("phone_agent_tool_latency_seconds_count", tool="metrics_probe") == \
        latency_before + 4
    # A real business tool: an unverified caller asking for an order is refused.
    refused = value("phone_agent_tool_calls_total", tool="check_order_status",
                    result="refused")
    with pytest.raises(ToolError):
        await check_order_status(ctx, order_number="")
    assert value("phone_agent_tool_calls_total", tool="check_order_status",
                 result="refused") == refused + 1


# --- across processes -----------------------------------------------------------------------

MULTIPROCESS_SCRIPT = textwrap.dedent("""
    import multiprocessing as mp
    import sys
    from pathlib import Path

    from agent import metrics_dir

    def call_in_job_process():
        from agent.observability import metrics
        metrics.record_call_started("inbound", "sip")
        metrics.record_turn_item("assistant", {"e2e_latency": 0.9}, False, "sip")
        metrics.record_call_ended("inbound", "sip", "caller")

    # Only under __main__: forkserver children import this module again (as agent.py is).
    if __name__ == "__main__":
        path = metrics_dir.prepare(base=Path(sys.argv[1]))  # what the CLI does first
        from agent.observability import metrics  # main process: imports, records nothing
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        for f in path.iterdir():  # what AgentServer.run() does at start-up
            f.unlink()
        ctx = mp.get_context("forkserver")  # how AgentServer starts job processes on Linux
        for _ in range(2):
            p = ctx.Process(target=call_in_job_process)
            p.start(); p.join()
            assert p.exitcode == 0
        metrics.record_load("phone-agent", 1, 8)  # main process, after start-up
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        sys.stdout.write(generate_latest(registry).decode())
""")



def test_samples_of_job_processes_and_the_main_process_reach_the_endpoint(
        tmp_path: Path) -> None:
    script = tmp_path / "mp_probe.py"
    script.write_text(MULTIPROCESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != metrics_dir.ENV}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's `agent`, whatever pip installed
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "metrics")], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert 'phone_agent_calls_total{channel="sip",direction="inbound",ended_by="caller"} 2.0' \
        in lines
    assert 'phone_agent_turn_latency_seconds_count{channel="sip"} 2.0' in lines
    assert 'phone_agent_active_calls{agent="phone-agent"} 1.0' in lines
    assert 'phone_agent_call_capacity{agent="phone-agent"} 8.0' in lines


# --- the samples directory ------------------------------------------------------------------

def test_prepare_gives_each_worker_an_empty_directory(tmp_path: Path) -> None:
    base = tmp_path / "m"
    dead = base / "999999999"  # no such process
    dead.mkdir(parents=True)
    (dead / "counter_1.db").write_bytes(b"x")
    alive = base / str(os.getppid())
    alive.mkdir()
    env: dict[str, str] = {}
    path = metrics_dir.prepare(env, base=base, pid=os.getpid())
    assert path == base / str(os.getpid()) and env[metrics_dir.ENV] == str(path)
    assert not dead.exists() and alive.exists()

    (path / "histogram_42.db").write_bytes(b"old run")
    again = metrics_dir.prepare(env)  # an operator's (or inherited) directory: emptied
    assert again == path and list(path.iterdir()) == []


async def test_fallbacks_of_a_fallback_adapter_are_counted() -> None:
    """The framework's availability events: a provider that drops out is a fallback taken."""
    from livekit.agents import AgentSession, stt
    from livekit.agents.stt.fallback_adapter import AvailabilityChangedEvent

    primary, backup = deepgram.STT(api_key="k"), deepgram.STT(api_key="k")
    adapter = stt.FallbackAdapter([primary, backup])
    session: AgentSession[None] = AgentSession(stt=adapter)
    metrics.watch_session(session)
    before = value("phone_agent_fallbacks_total", stage="stt", provider="deepgram")
    adapter.emit("stt_availability_changed",
                 AvailabilityChangedEvent(stt=primary, available=False))
    adapter.emit("stt_availability_changed",
                 AvailabilityChangedEvent(stt=primary, available=True))  # back: not a fallback
    assert value("phone_agent_fallbacks_total", stage="stt", provider="deepgram") == before + 1
    # The session's providers got their zero series: a first error is an increase.
    assert REGISTRY.get_sample_value("phone_agent_provider_errors_total", {
        "stage": "stt", "provider": "fallback", "kind": "timeout",
        "recoverable": "false"}) is not None
    await adapter.aclose()


async def test_the_products_failover_chains_count_by_plugin_and_recovery_by_kind(
        tmp_path: Path) -> None:
    """The call's STT chain wraps each plugin in the silence guard: a fallback is still
    counted under the plugin's name. Recovery events of the call record are counted by kind."""
    from livekit.agents import AgentSession
    from livekit.agents.stt.fallback_adapter import AvailabilityChangedEvent

    from emulators import ProviderEmulators
    from tests.unit.test_failover import chains

    async with ProviderEmulators() as emu:
        c = chains(tmp_path, **emu.env(), **emu.backup_env())
    session: AgentSession[None] = AgentSession(stt=c.stt.plugin, llm=c.llm.plugin,
                                               tts=c.tts.plugin)
    metrics.watch_session(session)
    before = value("phone_agent_fallbacks_total", stage="stt", provider="deepgram")
    c.stt.plugin.emit("stt_availability_changed",
                      AvailabilityChangedEvent(stt=c.stt.members[0].plugin, available=False))
    assert value("phone_agent_fallbacks_total", stage="stt", provider="deepgram") == before + 1
    metrics.initialize(tools=[])
    for kind in metrics.RECOVERY_EVENTS:  # zero series exist before the first one
        assert REGISTRY.get_sample_value("phone_agent_recovery_events_total",
                                         {"kind": kind}) is not None
    held = value("phone_agent_recovery_events_total", kind="hold_line")
    metrics.record_call_event("hold_line")
    metrics.record_call_event("transcript")  # not a recovery event: no new series
    assert value("phone_agent_recovery_events_total", kind="hold_line") == held + 1
    assert REGISTRY.get_sample_value("phone_agent_recovery_events_total",
                                     {"kind": "transcript"}) is None
    for chain in (c.stt, c.llm, c.tts):
        await chain.adapter.aclose()


def test_the_cli_imports_no_prometheus_client_before_the_metrics_directory() -> None:
    """prometheus_client chooses multiprocess mode when first imported: if reading the
    settings imported it (through livekit.agents), the worker's main process would write no
    samples at all — no active-calls or capacity gauge, a /metrics without the worker."""
    probe = ("import sys, agent.cli; "
             "print(sorted(m for m in ('prometheus_client', 'livekit.agents') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
