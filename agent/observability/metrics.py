"""The worker's Prometheus metrics: every name, type, unit and label set, declared once here.

Served on `METRICS_PORT` (`/metrics`) by LiveKit's `AgentServer`. Calls run in job processes
the server forks, so prometheus_client runs in multiprocess mode: each process writes its
samples to files in `PROMETHEUS_MULTIPROC_DIR` (prepared by `agent/metrics_dir.py`
before anything imports prometheus_client) and the endpoint sums them. What a call recorded
stays counted after its process exits.

Rules the declarations keep (tests/unit/test_metrics.py checks them):
* base units and Prometheus names: seconds (`_seconds`), counters end in `_total`;
* only bounded label values: channel, direction, stage, a closed set of outcomes, tool and
  plugin names. Never a room, a number, a caller or free text;
* every family has at least one label. A label-less family creates its sample file when this
  module is imported, in the main process too, *before* `AgentServer` empties the directory
  at start-up; prometheus_client keeps writing to the deleted file and the main process's
  gauges of that type would never be seen again.

Where the data comes from: `observability/calls.py` (conversation items with their latency
metrics, errors, close, call events: transfers, failover and recovery), `watch_session` below
(the session's other events), `tools/audit.py` (tool outcomes and latency), `call.py` (keypad
handovers) and the worker's load function in the main process (active calls and capacity,
from the jobs it runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from livekit.agents import (
    AgentSession,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    MetricsCollectedEvent,
    stt,
    tts,
)
from livekit.agents import llm as lk_llm
from livekit.agents.voice.events import (
    AgentFalseInterruptionEvent,
    ErrorEvent,
    SpeechCreatedEvent,
    UserInputTranscribedEvent,
)
from prometheus_client import Counter, Gauge, Histogram

from ..call_state import EndedBy

# Turn stages: 50 ms to 10 s, dense around the 0.5-2 s where phone turns live; the 2 s and
# 4 s edges are the alert thresholds (histogram_quantile is exact only at bucket edges).
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

# ChatMessage.metrics key -> `stage` label of phone_agent_turn_stage_seconds.
STAGE_KEYS = {
    "end_of_turn_delay": "end_of_turn",
    "transcription_delay": "transcription",
    "llm_node_ttft": "llm_ttft",
    "tts_node_ttfb": "tts_ttfb",
}
TOOL_RESULTS = ("ok", "refused", "invalid", "error", "cancelled")
CHANNELS = ("sip", "browser")
DIRECTIONS = ("inbound", "outbound")
ENDED_BY = (*(str(e) for e in EndedBy), "unknown")
ERROR_KINDS = ("timeout", "connection", "rate_limited", "http_4xx", "http_5xx", "other")
# Call-record events of provider failover and recovery (agent/providers/failover.py,
# agent/recovery): switches, the fixed lines the caller heard, the handover.
RECOVERY_EVENTS = ("provider_fallback", "provider_recovered", "provider_stage_down",
                   "reply_retried", "silent_turn", "hold_line", "stt_silent", "stt_recovered",
                   "keypad_mode", "handover")
TRANSFER_EVENTS = {  # call-record event kind -> (route, result)
    "transfer": ("refer", "ok"),
    "transfer_failed": ("refer", "failed"),
    "warm_transfer": ("warm", "ok"),
    "warm_transfer_failed": ("warm", "failed"),
}

# --- calls ----------------------------------------------------------------------------------
CALLS_STARTED = Counter("phone_agent_calls_started_total", "Calls the worker took on",
                        ["direction", "channel"])
CALLS = Counter("phone_agent_calls_total", "Calls that ended, by how they ended (ended_by: "
                "caller, agent, transfer, error, voicemail, busy, no_answer, failed, unknown)",
                ["direction", "channel", "ended_by"])
ACTIVE_CALLS = Gauge("phone_agent_active_calls", "Calls in progress on this worker",
                     ["agent"], multiprocess_mode="mostrecent")
CAPACITY = Gauge("phone_agent_call_capacity", "Calls this worker takes at once "
                 "(MAX_CONCURRENT_CALLS)", ["agent"], multiprocess_mode="mostrecent")

# --- turns ----------------------------------------------------------------------------------
USER_TURNS = Counter("phone_agent_user_turns_total", "Caller turns (final transcripts that "
                     "became a conversation item)", ["channel"])
AGENT_UTTERANCES = Counter("phone_agent_agent_utterances_total", "Agent utterances spoken "
                           "(interrupted or not)", ["channel"])
TURN_LATENCY = Histogram("phone_agent_turn_latency_seconds", "End of the caller's speech to "
                         "the agent's first audio (the framework's e2e_latency)", ["channel"],
                         buckets=LATENCY_BUCKETS)
TURN_STAGE = Histogram("phone_agent_turn_stage_seconds", "Per-stage latency of a turn: "
                       "end_of_turn, transcription, llm_ttft (LLM time to first token), "
                       "tts_ttfb (TTS time to first byte)", ["stage", "channel"],
                       buckets=LATENCY_BUCKETS)
BARGE_INS = Counter("phone_agent_barge_ins_total", "Agent utterances the caller talked over "
                    "(interrupted)", ["channel"])
FALSE_INTERRUPTIONS = Counter("phone_agent_false_interruptions_total", "Pauses for caller "
                              "sound that was not a real interruption", ["resumed"])

# --- providers ------------------------------------------------------------------------------
PROVIDER_ERRORS = Counter("phone_agent_provider_errors_total", "Errors the STT, LLM and TTS "
                          "plugins reported; recoverable=true means the plugin retried",
                          ["stage", "provider", "kind", "recoverable"])
FALLBACKS = Counter("phone_agent_fallbacks_total", "A fallback adapter stopped using a "
                    "provider and moved on to the next", ["stage", "provider"])
RECOVERIES = Counter("phone_agent_recovery_events_total", "Failover and recovery events of "
                     "the call records: provider_fallback (a call switched to the next provider, "
                     "also when it started on a backup because the primary was known down), "
                     "provider_recovered, provider_stage_down, and the fixed lines and "
                     "handovers the caller got instead of silence", ["kind"])
STT_AUDIO = Counter("phone_agent_stt_audio_seconds_total", "Caller audio streamed to the STT",
                    ["provider"])
STT_TRANSCRIPTS = Counter("phone_agent_stt_transcripts_total", "Final transcripts the STT "
                          "returned", ["provider"])
SPEECHES = Counter("phone_agent_speeches_total", "Agent speech started (say or "
                   "generate_reply): what the TTS is asked for", ["source"])
TTS_AUDIO = Counter("phone_agent_tts_audio_seconds_total", "Audio the TTS synthesized",
                    ["provider"])

# --- tools and telephony --------------------------------------------------------------------
TOOL_CALLS = Counter("phone_agent_tool_calls_total", "Business tool calls by result: ok, "
                     "refused (not allowed, not confirmed), invalid (bad arguments), error, "
                     "cancelled", ["tool", "result"])
TOOL_LATENCY = Histogram("phone_agent_tool_latency_seconds", "Business tool run time",
                         ["tool"], buckets=TOOL_BUCKETS)
KEYPAD_HANDOVERS = Counter("phone_agent_keypad_handovers_total", "Keypad 0 pressed: handed "
                           "to a human (transferred) or not (failed)", ["result"])
TRANSFERS = Counter("phone_agent_transfers_total", "Transfers to a human: route refer (cold, "
                    "incl. keypad) or warm; result ok or failed", ["route", "result"])


# --- label values ---------------------------------------------------------------------------


def channel(kind: str) -> str:
    """`CallerInfo.kind` as a label: "sip" or "browser"."""
    return "sip" if kind == "sip" else "browser"


def provider_label(component: object) -> str:
    """The LiveKit plugin behind an STT/LLM/TTS object ("deepgram", "openai" (DeepSeek is
    reached through it), "elevenlabs", ...); "fallback" for a FallbackAdapter."""
    if component is None:
        return "none"
    inner = getattr(component, "inner", None) or getattr(component, "wrapped_stt", None)
    if inner is not None:  # our guard around an STT (providers/stt_guard.py), a StreamAdapter
        return provider_label(inner)
    module = type(component).__module__
    if "fallback_adapter" in module:
        return "fallback"
    parts = module.split(".")
    if parts[:2] == ["livekit", "plugins"] and len(parts) > 2:
        return parts[2]
    return "other"


def error_kind(error: object) -> str:
    """A bounded name for what went wrong: timeout, connection, rate_limited, http_4xx,
    http_5xx or other."""
    if isinstance(error, APITimeoutError):
        return "timeout"
    if isinstance(error, APIStatusError):
        status = error.status_code
        if status == 429:
            return "rate_limited"
        if 400 <= status < 500:
            return "http_4xx"
        if status >= 500:
            return "http_5xx"
        return "other"
    if isinstance(error, APIConnectionError):
        return "connection"
    return "other"


_STAGE_OF_ERROR = {"stt_error": "stt", "llm_error": "llm", "tts_error": "tts",
                   "realtime_model_error": "llm"}


# --- recording ------------------------------------------------------------------------------


def initialize(tools: Iterable[str]) -> None:
    """Create every bounded label combination at zero. Run in each job process (prewarm):
    rate() and increase() only see growth between samples, so a series whose first sample
    is already 1 would hide the first transfer, the first tool call, the first call."""
    for direction in DIRECTIONS:
        for ch in CHANNELS:
            CALLS_STARTED.labels(direction=direction, channel=ch)
            for ended_by in ENDED_BY:
                CALLS.labels(direction=direction, channel=ch, ended_by=ended_by)
    for ch in CHANNELS:
        for family in (USER_TURNS, AGENT_UTTERANCES, BARGE_INS, TURN_LATENCY):
            family.labels(channel=ch)
        for stage in STAGE_KEYS.values():
            TURN_STAGE.labels(stage=stage, channel=ch)
    for resumed in ("true", "false"):
        FALSE_INTERRUPTIONS.labels(resumed=resumed)
    for result in ("transferred", "failed"):
        KEYPAD_HANDOVERS.labels(result=result)
    for route, result in TRANSFER_EVENTS.values():
        TRANSFERS.labels(route=route, result=result)
    for source in ("say", "generate_reply"):
        SPEECHES.labels(source=source)
    for kind in RECOVERY_EVENTS:
        RECOVERIES.labels(kind=kind)
    for tool in tools:
        TOOL_LATENCY.labels(tool=tool)
        for result in TOOL_RESULTS:
            TOOL_CALLS.labels(tool=tool, result=result)


def _initialize_providers(stages: dict[str, str]) -> None:
    """The provider-labelled families, once the session's providers are known."""
    for stage, provider in stages.items():
        for kind in ERROR_KINDS:
            for recoverable in ("true", "false"):
                PROVIDER_ERRORS.labels(stage=stage, provider=provider, kind=kind,
                                       recoverable=recoverable)
    STT_AUDIO.labels(provider=stages["stt"])
    STT_TRANSCRIPTS.labels(provider=stages["stt"])
    TTS_AUDIO.labels(provider=stages["tts"])


def record_call_started(direction: str, kind: str) -> None:
    CALLS_STARTED.labels(direction=direction, channel=channel(kind)).inc()


def record_call_ended(direction: str, kind: str, ended_by: str | None) -> None:
    CALLS.labels(direction=direction, channel=channel(kind),
                 ended_by=str(ended_by) if ended_by else "unknown").inc()


def record_turn_item(role: str, metrics: dict[str, float], interrupted: bool,
                     kind: str) -> None:
    """One conversation item of a call: its latency metrics and whether it was cut off."""
    ch = channel(kind)
    if role == "user":
        USER_TURNS.labels(channel=ch).inc()
    elif role == "assistant":
        AGENT_UTTERANCES.labels(channel=ch).inc()
        if interrupted:
            BARGE_INS.labels(channel=ch).inc()
        if "e2e_latency" in metrics:
            TURN_LATENCY.labels(channel=ch).observe(metrics["e2e_latency"])
    for key, stage in STAGE_KEYS.items():
        if key in metrics and metrics[key] >= 0:
            TURN_STAGE.labels(stage=stage, channel=ch).observe(metrics[key])


def record_provider_error(ev: ErrorEvent) -> tuple[str, str, str]:
    """Count a session error; returns its (stage, provider, kind) labels."""
    err = ev.error
    stage = _STAGE_OF_ERROR.get(str(getattr(err, "type", "")), "other")
    provider = provider_label(ev.source)
    kind = error_kind(getattr(err, "error", err))
    recoverable = "true" if getattr(err, "recoverable", False) else "false"
    PROVIDER_ERRORS.labels(stage=stage, provider=provider, kind=kind,
                           recoverable=recoverable).inc()
    return stage, provider, kind


def record_fallback(stage: str, provider: str) -> None:
    """A fallback taken: `provider` (a plugin name) was left for the next one in line."""
    FALLBACKS.labels(stage=stage, provider=provider).inc()


def record_tool(tool: str, result: str, seconds: float | None) -> None:
    """One business tool call; `result` is one of TOOL_RESULTS, `seconds` None when the tool
    body never ran (unreadable arguments)."""
    TOOL_CALLS.labels(tool=tool, result=result if result in TOOL_RESULTS else "error").inc()
    if seconds is not None:
        TOOL_LATENCY.labels(tool=tool).observe(seconds)


def record_keypad_handover(transferred: bool) -> None:
    KEYPAD_HANDOVERS.labels(result="transferred" if transferred else "failed").inc()


def record_call_event(kind: str) -> None:
    """Call-record events that are counted: transfers (TRANSFER_EVENTS), failover and
    recovery (RECOVERY_EVENTS)."""
    if kind in RECOVERY_EVENTS:
        RECOVERIES.labels(kind=kind).inc()
    if kind in TRANSFER_EVENTS:
        route, result = TRANSFER_EVENTS[kind]
        TRANSFERS.labels(route=route, result=result).inc()


def record_load(agent: str, active: int, capacity: int) -> None:
    """Main process, from the worker's load function: the jobs it runs are the calls."""
    ACTIVE_CALLS.labels(agent=agent).set(active)
    CAPACITY.labels(agent=agent).set(capacity)


def watch_session(session: AgentSession[Any]) -> None:
    """Count what the session reports besides conversation items and errors: STT audio in
    and transcripts out, TTS audio out and the speech asked of it, false interruptions, and
    fallbacks of any FallbackAdapter in the pipeline."""
    stt_provider = provider_label(session.stt)
    _initialize_providers({"stt": stt_provider, "llm": provider_label(session.llm),
                           "tts": provider_label(session.tts)})

    def on_metrics(ev: MetricsCollectedEvent) -> None:
        m = ev.metrics
        if m.type == "stt_metrics" and m.audio_duration > 0:
            STT_AUDIO.labels(provider=stt_provider).inc(m.audio_duration)
        elif m.type == "tts_metrics" and m.audio_duration > 0:
            TTS_AUDIO.labels(provider=provider_label(session.tts)).inc(m.audio_duration)

    def on_transcribed(ev: UserInputTranscribedEvent) -> None:
        if ev.is_final and ev.transcript.strip():
            STT_TRANSCRIPTS.labels(provider=stt_provider).inc()

    def on_speech(ev: SpeechCreatedEvent) -> None:
        SPEECHES.labels(source=ev.source).inc()

    def on_false_interruption(ev: AgentFalseInterruptionEvent) -> None:
        FALSE_INTERRUPTIONS.labels(resumed="true" if ev.resumed else "false").inc()

    session.on("metrics_collected", on_metrics)
    session.on("user_input_transcribed", on_transcribed)
    session.on("speech_created", on_speech)
    session.on("agent_false_interruption", on_false_interruption)
    _watch_fallbacks(session)


def _watch_fallbacks(session: AgentSession[Any]) -> None:
    adapters: list[tuple[str, object, str]] = [
        ("stt", session.stt, "stt_availability_changed"),
        ("llm", session.llm, "llm_availability_changed"),
        ("tts", session.tts, "tts_availability_changed"),
    ]
    for stage, adapter, event in adapters:
        if not isinstance(adapter, stt.FallbackAdapter | lk_llm.FallbackAdapter
                          | tts.FallbackAdapter):
            continue

        def on_change(ev: Any, stage: str = stage) -> None:
            if not ev.available:
                inner = getattr(ev, stage, None)
                record_fallback(stage, provider_label(inner))

        adapter.on(event, on_change)  # type: ignore[arg-type]
