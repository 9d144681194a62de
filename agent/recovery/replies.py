"""No turn ends in silence: every reply the session generates is checked when it is done.

Why here and not in an error handler: with preemptive generation the model is asked while the
caller's turn is still open. In livekit-agents 1.8.9 (`voice/agent_activity.py`) a failed
preemptive request leaves a speech handle that is only scheduled when the turn commits
(`_user_turn_completed_impl` adopts it when the transcript is unchanged), so an apology said
from the `error` event meanwhile was paused by the caller's open turn, then interrupted by
the commit, and the adopted handle — already failed — produced nothing: 9 s of silence with
the audio turn detector. Checking the handle when it is *done* works whatever decided the
turn, because a reply is done only after it was scheduled and played (or failed).

What a done reply can be, and what the caller hears next (pre-rendered lines, lines.py):
- spoken, no error: nothing to do (the failure counts reset);
- the model failed (every LLM tried): "trouble", the turn once more; a second failure in a
  row hands the call over (handover.py);
- an answer cut short (the stream broke after text, or the voice's socket closed
  mid-sentence and the backup voice took over): "say it again", the turn once more;
- the voice failed (every TTS tried): "voice trouble" in the pre-rendered voice, the turn
  once more; a second time, the handover;
- nothing speakable (an empty answer, tool calls without an answer, the tool-step limit, a
  tool loop): "didn't get that", so the caller knows to go on.
Each is logged and written to the call record (`reply_retried`, `silent_turn`).

The watchdog: while a reply is thinking for `HOLD_AFTER_S` without a sound, "one moment,
please" plays on the recovery track (the speech queue is held by the pending reply, which is
left to finish); then "still on it" every `STILL_HOLDING_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from livekit.agents import AgentSession, APIError, llm, tts
from livekit.agents.voice import SpeechHandle
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    ErrorEvent,
    SpeechCreatedEvent,
)

from ..call_state import CallState
from .handover import Handover
from .voice import PrerenderedVoice, RecoveryTrack

logger = logging.getLogger("phone-agent.recovery")

HOLD_AFTER_S = 2.2
STILL_HOLDING_EVERY_S = 6.0
MAX_HOLD_LINES = 3
EventSink = Callable[[str, str], None]


def _said(handle: SpeechHandle) -> bool:
    return any(isinstance(i, llm.ChatMessage) and i.role == "assistant"
               and (i.text_content or "").strip() for i in handle.chat_items)


def nothing_speakable(handle: SpeechHandle, max_tool_steps: int) -> str:
    """Why a reply that raised nothing said nothing."""
    calls = [(i.name, i.arguments) for i in handle.chat_items if isinstance(i, llm.FunctionCall)]
    if not calls:
        return "empty answer"
    if handle.num_steps > max_tool_steps:
        return f"tool-step limit reached ({len(calls)} tool calls, no answer)"
    if len(set(calls)) < len(calls):
        return f"tool loop ({calls[0][0]} called again with the same arguments)"
    return f"tool calls without an answer ({', '.join(n for n, _ in calls)})"


class ReplyGuard:
    def __init__(self, session: AgentSession[CallState], state: CallState, *,
                 voice: PrerenderedVoice, handover: Handover, on_event: EventSink,
                 max_tool_steps: int) -> None:
        self._session = session
        self._state = state
        self._voice = voice
        self._handover = handover
        self._on_event = on_event
        self._max_tool_steps = max_tool_steps
        self._track: RecoveryTrack | None = None
        self._created: dict[str, float] = {}
        self._failures = 0  # replies in a row the model or the voice could not deliver
        self._voice_failed_at = 0.0
        self._voice_switched_at = 0.0
        self._speaking_since = 0.0
        self._hold: asyncio.Task[None] | None = None
        self._closed = False
        self._tasks: set[asyncio.Future[None]] = set()

    def attach(self, track: RecoveryTrack | None) -> None:
        """`track`: where hold lines play (None: no watchdog, e.g. a text-only session)."""
        self._track = track
        self._session.on("speech_created", self._on_speech)
        self._session.on("agent_state_changed", self._on_agent_state)
        self._session.on("error", self._on_error)
        self._session.on("close", self._on_close)

    def voice_switched(self) -> None:
        """The serving voice failed and the next one took over (failover.py)."""
        self._voice_switched_at = time.time()

    # --- replies ------------------------------------------------------------------------

    def _on_speech(self, ev: SpeechCreatedEvent) -> None:
        if ev.source != "generate_reply":
            return
        self._created[ev.speech_handle.id] = time.time()
        ev.speech_handle.add_done_callback(self._on_done)

    def _ending(self) -> bool:
        state = self._state
        return (self._closed or self._handover.active or state.ended_by is not None
                or state.transfer_in_progress)

    def _answering(self) -> bool:
        """A caller has spoken: the greeting has its own fallback (assistant.on_enter)."""
        return any(isinstance(i, llm.ChatMessage) and i.role == "user"
                   for i in self._session.history.items)

    def _on_done(self, handle: SpeechHandle) -> None:
        created = self._created.pop(handle.id, time.time())
        if handle.interrupted or self._ending() or not self._answering():
            return
        said, error = _said(handle), handle.exception()
        if self._voice_failed_at >= created:
            self._retry_or_hand_over("voice_trouble", "tts", "the voice failed (every TTS "
                                     "tried)")
        elif self._voice_switched_at > max(created, self._speaking_since) and said:
            self._retry("say_again", "answer cut: the voice failed mid-sentence and the "
                        "backup voice took over")
        elif isinstance(error, APIError) and said:
            self._retry_or_hand_over("say_again", "llm", f"answer cut: the model's stream "
                                     f"broke ({type(error).__name__})")
        elif error is not None and not said:
            self._retry_or_hand_over("trouble", "llm", f"the model failed ({type(error).__name__}"
                                     f": {str(error)[:120]})")
        elif not said:
            reason = nothing_speakable(handle, self._max_tool_steps)
            logger.warning("a reply had nothing to say: %s", reason,
                           extra={"call": self._state.call_uid})
            self._on_event("silent_turn", reason)
            self._play("didnt_get_that")
        else:
            self._failures = 0

    def _retry(self, line: str, why: str) -> None:
        logger.warning("reply retried: %s", why, extra={"call": self._state.call_uid})
        self._on_event("reply_retried", why)
        self._play(line)
        self._session.generate_reply()

    def _retry_or_hand_over(self, line: str, stage: str, why: str) -> None:
        self._failures += 1
        if self._failures >= 2:
            self._on_event("reply_retried", f"{why}; twice in a row, handing over")
            self._spawn(self._handover.run(f"{stage}: {why}"))
            return
        self._retry(line, why)

    def _play(self, name: str) -> None:
        clip = self._voice[name]
        try:
            self._session.say(clip.text, audio=clip.frames(), allow_interruptions=True,
                              add_to_chat_ctx=True)
        except RuntimeError:  # the session is closing
            pass

    # --- errors and the watchdog ----------------------------------------------------------

    def _on_error(self, ev: ErrorEvent) -> None:
        err: Any = ev.error
        if isinstance(err, tts.TTSError) and not err.recoverable:
            self._voice_failed_at = time.time()

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        if ev.new_state == "speaking":
            self._speaking_since = time.time()
            if self._track is not None:
                self._track.stop()  # the real answer has started
        elif ev.new_state == "thinking" and not self._ending():
            self._hold = asyncio.ensure_future(self._hold_lines())

    async def _hold_lines(self) -> None:
        await asyncio.sleep(HOLD_AFTER_S)
        for n in range(MAX_HOLD_LINES):
            if self._track is None or self._ending():
                return
            name = "hold" if n == 0 else "still_holding"
            # JSON with the time: the report's dead-air figure ends a silence at a hold line
            self._on_event("hold_line", json.dumps({
                "at": round(time.time(), 3), "line": self._voice[name].text,
                "silent_s": round(HOLD_AFTER_S + n * STILL_HOLDING_EVERY_S, 1)}))
            self._track.play(self._voice[name])
            await asyncio.sleep(STILL_HOLDING_EVERY_S)

    def _on_close(self, _: object) -> None:
        self._closed = True
        if self._hold is not None:
            self._hold.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
