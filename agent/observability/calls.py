"""The call record: who called (masked), how it ended, a redacted transcript, per-turn latency.

Every event is written as it happens, so a call that drops mid-way still leaves its record.
Provider errors are logged and recorded (`provider_error`); what the caller hears about them
is agent/recovery's (a reply checked when it is done, not an apology from the error event).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from livekit.agents import AgentSession, CloseEvent, ErrorEvent, llm
from livekit.agents.voice.events import ConversationItemAddedEvent

from ..call_state import CallState, EndedBy
from ..data.repository import Repository
from ..phones import mask_phone
from .redaction import redact

logger = logging.getLogger("phone-agent.calls")



def _turn_metrics(item: llm.ChatMessage) -> dict[str, float]:
    metrics: dict[str, Any] = dict(item.metrics or {})
    keep = (
        "e2e_latency",
        "end_of_turn_delay",
        "transcription_delay",
        "llm_node_ttft",
        "tts_node_ttfb",
    )
    return {
        k: round(float(v), 4)
        for k, v in metrics.items()
        if k in keep and isinstance(v, int | float)
    }


class CallRecorder:
    """Writes the call record through the repository while the session runs."""

    def __init__(self, state: CallState, session: AgentSession[CallState],
                 repo: Repository) -> None:
        self._state = state
        self._session = session
        self._repo = repo
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def attach(self) -> None:
        caller = self._state.caller
        self._spawn(
            self._repo.start_call(
                call_uid=self._state.call_uid,
                room=self._state.room_name,
                channel=caller.kind,
                direction=caller.direction,
                caller_masked=mask_phone(caller.phone_number),
                sip_call_id=caller.call_id,
            )
        )
        self._session.on("conversation_item_added", self._on_item)
        self._session.on("error", self._on_error)
        self._session.on("close", self._on_close)

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage) or not item.text_content:
            return
        metrics = _turn_metrics(item)
        if item.role == "assistant" and "e2e_latency" in metrics:
            logger.info("turn latency", extra={"call": self._state.call_uid, **metrics})
        self._spawn(
            self._repo.add_transcript_line(
                call_uid=self._state.call_uid,
                role=item.role,
                text=redact(item.text_content),
                metrics=metrics,
                interrupted=item.interrupted,
            )
        )

    def _on_error(self, ev: ErrorEvent) -> None:
        err = ev.error
        source = type(ev.source).__name__ if ev.source is not None else "unknown"
        recoverable = bool(getattr(err, "recoverable", False))
        logger.warning(
            "provider error",
            extra={
                "call": self._state.call_uid,
                "source": source,
                "recoverable": recoverable,
                "error": redact(str(getattr(err, "error", err)))[:300],
            },
        )
        self._spawn(
            self._repo.add_call_event(
                call_uid=self._state.call_uid,
                kind="provider_error",
                detail=f"{source}: {redact(str(getattr(err, 'error', err)))[:300]}",
            )
        )

    def _on_close(self, ev: CloseEvent) -> None:
        reason_name = str(ev.reason.value)
        if self._state.ended_by is None:
            if "disconnect" in reason_name.lower():
                self._state.caller_left()
            else:
                self._state.end(EndedBy.ERROR if ev.error is not None else EndedBy.AGENT)
        duration = round(time.monotonic() - self._started, 2)
        logger.info(
            "call ended",
            extra={
                "call": self._state.call_uid,
                "ended_by": self._state.ended_by,
                "duration_s": duration,
            },
        )
        self._spawn(
            self._repo.finish_call(
                call_uid=self._state.call_uid,
                ended_by=self._state.ended_by,
                reason=reason_name,
                duration_s=duration,
            )
        )

    def event(self, kind: str, detail: str) -> None:
        """Record a call event (transfer attempts, outbound outcomes, provider failover and
        recovery: `provider_fallback`, `provider_recovered`, `provider_stage_down`,
        `silent_turn`, `reply_retried`, `hold_line`, `stt_silent`, `keypad_mode`,
        `handover`, ...). Each is logged where it happens; the kind is what metrics count."""
        self._spawn(self._repo.add_call_event(call_uid=self._state.call_uid, kind=kind,
                                              detail=redact(detail)[:500]))

    async def flush(self) -> None:
        """Wait until every pending write has landed (tests, and the job's shutdown hook)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("call record write failed: %s", task.exception())
