"""The call record: who called (masked), how it ended, a redacted transcript, per-turn latency.

Every event is written as it happens, so a call that drops mid-way still leaves its record;
while the database is unavailable the writes wait in a `RecordSink`. Transcript lines are
stripped of invisible characters and redacted, a caller's line in the light of the agent's
line before it (a bare "2468" after "What's your PIN?" is a PIN). Provider errors are logged,
counted and recorded (`provider_error`); what the caller hears about them is agent/recovery's
(a reply checked when it is done, not an apology from the error event). What is recorded is
also counted in the Prometheus metrics (observability/metrics.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from livekit.agents import AgentSession, CloseEvent, ErrorEvent, llm
from livekit.agents.voice.events import ConversationItemAddedEvent

from ..call_state import CallState, EndedBy
from ..phones import mask_phone, without_number
from ..plain_text import strip_invisible
from . import metrics
from .record_sink import RecordSink
from .redaction import redact

logger = logging.getLogger("phone-agent.calls")



LATENCY_KEYS = ("e2e_latency", "end_of_turn_delay", "transcription_delay", "llm_node_ttft",
                "tts_node_ttfb")
# Wall-clock (epoch seconds) start and end of the line's speech: the report measures the
# silences between turns from them (agent/observability/quality.py).
TIMING_KEYS = ("started_speaking_at", "stopped_speaking_at")


def _turn_metrics(item: llm.ChatMessage) -> dict[str, float]:
    metrics: dict[str, Any] = dict(item.metrics or {})
    return {
        k: round(float(v), 4)
        for k, v in metrics.items()
        if k in LATENCY_KEYS + TIMING_KEYS and isinstance(v, int | float)
    }


class CallRecorder:
    """Writes the call record through its `RecordSink` while the session runs."""

    def __init__(self, state: CallState, session: AgentSession[CallState],
                 sink: RecordSink, *, caller_key: str | None = None) -> None:
        """`caller_key`: the keyed hash of the caller's number (`phones.caller_key`)."""
        self._state = state
        self._caller_key = caller_key
        self._session = session
        self._sink = sink
        self._started = time.monotonic()
        self._last_agent_line: str | None = None

    def attach(self) -> None:
        state, caller, key = self._state, self._state.caller, self._caller_key
        room = without_number(state.room_name, caller.phone_number)
        self._sink.write(lambda repo: repo.start_call(
            call_uid=state.call_uid, room=room, channel=caller.kind,
            direction=caller.direction, caller_masked=mask_phone(caller.phone_number),
            sip_call_id=caller.call_id, caller_key=key),
            f"call {state.call_uid} started ({caller.direction}, {caller.kind}, "
            f"caller {mask_phone(caller.phone_number)})")
        self._session.on("conversation_item_added", self._on_item)
        self._session.on("error", self._on_error)
        self._session.on("close", self._on_close)
        metrics.record_call_started(caller.direction, caller.kind)
        metrics.watch_session(self._session)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage) or not item.text_content:
            return
        figures = _turn_metrics(item)
        if item.role == "assistant" and "e2e_latency" in figures:
            logger.info("turn latency", extra={"call": self._state.call_uid,
                                               **{k: figures[k] for k in LATENCY_KEYS
                                                  if k in figures}})
        metrics.record_turn_item(item.role, figures, item.interrupted, self._state.caller.kind)
        spoken = strip_invisible(item.text_content)
        context = self._last_agent_line if item.role == "user" else None
        if item.role == "assistant":
            self._last_agent_line = spoken
        text = redact(spoken, context=context)
        uid, role, interrupted = self._state.call_uid, item.role, item.interrupted
        self._sink.write(lambda repo: repo.add_transcript_line(
            call_uid=uid, role=role, text=text, metrics=figures, interrupted=interrupted),
            f"call {uid} {role}: {text}")

    def _on_error(self, ev: ErrorEvent) -> None:
        err = ev.error
        source = type(ev.source).__name__ if ev.source is not None else "unknown"
        recoverable = bool(getattr(err, "recoverable", False))
        stage, provider, kind = metrics.record_provider_error(ev)
        logger.warning(
            "provider error",
            extra={
                "call": self._state.call_uid,
                "source": source,
                "recoverable": recoverable,
                "error": redact(str(getattr(err, "error", err)))[:300],
            },
        )
        # "<stage>/<provider>/<kind>/<final|retried> <Source>: <message>" (the report groups
        # by the first word)
        self._write_event(
            "provider_error",
            f"{stage}/{provider}/{kind}/{'retried' if recoverable else 'final'} "
            f"{source}: {redact(strip_invisible(str(getattr(err, 'error', err))))[:300]}")

    def _on_close(self, ev: CloseEvent) -> None:
        reason_name = str(ev.reason.value)
        if self._state.ended_by is None:
            if "disconnect" in reason_name.lower():
                self._state.caller_left()
            else:
                self._state.end(EndedBy.ERROR if ev.error is not None else EndedBy.AGENT)
        duration = round(time.monotonic() - self._started, 2)
        metrics.record_call_ended(self._state.caller.direction, self._state.caller.kind,
                                  self._state.ended_by)
        logger.info(
            "call ended",
            extra={
                "call": self._state.call_uid,
                "ended_by": self._state.ended_by,
                "duration_s": duration,
            },
        )
        uid, ended_by = self._state.call_uid, self._state.ended_by
        self._sink.write(lambda repo: repo.finish_call(
            call_uid=uid, ended_by=ended_by, reason=reason_name, duration_s=duration),
            f"call {uid} ended by {ended_by} ({reason_name}) after {duration} s")

    def event(self, kind: str, detail: str) -> None:
        """Record a call event (transfer attempts, outbound outcomes, provider failover and
        recovery: `provider_fallback`, `provider_recovered`, `provider_stage_down`,
        `silent_turn`, `reply_retried`, `hold_line`, `stt_silent`, `keypad_mode`,
        `handover`, ...). Each is logged where it happens; the kind is what metrics count."""
        metrics.record_call_event(kind)
        self._write_event(kind, redact(strip_invisible(detail))[:500])

    def _write_event(self, kind: str, text: str) -> None:
        """`text` as given: the callers redact what may hold personal data."""
        uid = self._state.call_uid
        self._sink.write(lambda repo: repo.add_call_event(call_uid=uid, kind=kind, detail=text),
                         f"call {uid} {kind}: {text}")

    async def flush(self) -> None:
        """Wait until every pending write has landed (tests, and the job's shutdown hook)."""
        await self._sink.flush()
