"""When the caller speaks and nothing is understood.

The session's `transcription_timeout` (livekit-agents 1.8.9) emits `user_transcription_timeout`
when the VAD heard speech that no final transcript followed within `TRANSCRIPT_TIMEOUT_S`:
- with a backup STT, the STT being served is failed on purpose (`CallProviders.
  trip_silent_stt`): a connected but silent provider raises nothing by itself. The fallback
  adapter switches, and the backup first hears the utterance again (providers/stt_guard.py);
- without one, the plugin reconnects (a silent socket is the usual cause) and the caller is
  asked to say it again; a second miss in a row means speech recognition is down.
Speech recognition down (a second miss, or the STT failing for good): on a phone, the keypad
— "press zero for a person" — and if nothing comes within `KEYPAD_WAIT_S`, the handover. A
transcript arriving meanwhile means it recovered, and the conversation goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from livekit.agents import AgentSession, stt
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    ErrorEvent,
    UserInputTranscribedEvent,
    UserTranscriptionTimeoutEvent,
)

from ..call_state import CallState
from ..providers import CallProviders
from .handover import Handover

logger = logging.getLogger("phone-agent.recovery")

# After the VAD's end of speech. A final normally takes ~0.3 s; on a loaded 2-core host the
# emulated recognizer has taken over 1 s, and a false trip costs a provider switch.
TRANSCRIPT_TIMEOUT_S = 1.5
MIN_SPEECH_S = 0.3  # shorter sounds (a cough, a click) are not worth a question
KEYPAD_WAIT_S = 10.0
EventSink = Callable[[str, str], None]


class HearingGuard:
    def __init__(self, session: AgentSession[CallState], state: CallState, *,
                 providers: CallProviders, handover: Handover, on_event: EventSink) -> None:
        self._session = session
        self._state = state
        self._providers = providers
        self._handover = handover
        self._on_event = on_event
        self._misses = 0
        self._agent_spoke_at = 0.0
        self._agent_speaking = False
        self._keypad: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    def attach(self) -> None:
        self._session.on("user_transcription_timeout", self._on_timeout)
        self._session.on("user_input_transcribed", self._on_transcribed)
        self._session.on("agent_state_changed", self._on_agent_state)
        self._session.on("error", self._on_error)

    @property
    def keypad_mode(self) -> bool:
        return self._keypad is not None and not self._keypad.done()

    def on_digit(self) -> None:
        """The caller used the keypad: the keypad itself takes it from here."""
        if self._keypad is not None:
            self._keypad.cancel()

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        if ev.old_state == "speaking" or ev.new_state == "speaking":
            self._agent_spoke_at = time.time()
        self._agent_speaking = ev.new_state == "speaking"

    def _on_transcribed(self, ev: UserInputTranscribedEvent) -> None:
        if not ev.is_final or not ev.transcript.strip():
            return
        self._providers.tape.clear()
        self._misses = 0
        if self.keypad_mode:
            assert self._keypad is not None
            self._keypad.cancel()
            self._on_event("stt_recovered", "a transcript arrived in keypad mode; the "
                           "conversation goes on")

    def _on_timeout(self, ev: UserTranscriptionTimeoutEvent) -> None:
        # Audio the STT never got (the agent was speaking uninterruptibly) or a backchannel
        # the assistant dropped over its own answer is not a miss.
        if (ev.speech_duration < MIN_SPEECH_S or self._agent_speaking
                or self._agent_spoke_at >= ev.vad_speech_started_at):
            return
        if self._handover.active or self._state.ended_by is not None:
            return
        detail = f"{ev.speech_duration:.1f} s of speech, no transcript"
        if self._providers.trip_silent_stt(f"silent: {detail}"):
            self._on_event("stt_silent", f"{detail}; failing over to the backup STT")
            return
        self._misses += 1
        if self._misses >= 2:
            self.speech_recognition_down(f"{detail}, twice in a row")
            return
        self._on_event("stt_silent", f"{detail}; reconnected, caller asked to repeat")
        self._providers.reconnect_stt()
        self._say("repeat_please")

    def _on_error(self, ev: ErrorEvent) -> None:
        err: Any = ev.error
        if isinstance(err, stt.STTError) and not err.recoverable:
            self.speech_recognition_down(f"the STT failed: {str(err.error)[:120]}")

    def speech_recognition_down(self, why: str) -> None:
        if self.keypad_mode or self._handover.active or self._state.ended_by is not None:
            return
        self._on_event("keypad_mode", why)
        self._keypad = asyncio.ensure_future(self._keypad_mode(why))

    async def _keypad_mode(self, why: str) -> None:
        if not self._state.caller.is_phone:  # no keypad: nothing else to offer
            await self._handover.run(f"stt: {why}")
            return
        await self._handover.say("keypad", interruptible=True)
        await asyncio.sleep(KEYPAD_WAIT_S)
        await self._handover.run(f"stt: {why}; nothing heard on the keypad")

    def _say(self, name: str) -> None:
        self._spawn(self._handover.say(name, interruptible=True))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
