"""The last word of a call whose STT, LLM or TTS is down: a human, or else a callback.

1. A phone caller with a transfer destination hears the hand-over line and is transferred
   (SIP REFER, `telephony.cold_transfer`, with its fallback destination).
2. Otherwise (no destination, the transfer failed): the callback offer on the keypad — "press
   one" — which books a callback on the number they are calling from.
3. Without a keypad or a number (a browser caller), or with no answer: a goodbye, and the
   call ends.
Every line is pre-rendered (voice.py): this path must not need the provider that failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from livekit.agents import AgentSession

from ..call_state import CallState, EndedBy
from ..data.repository import RepoSource, current_repo
from ..phones import normalize_caller_number
from ..telephony.cold_transfer import TransferOutcome, cold_transfer
from ..telephony.destinations import TransferPlan
from .voice import PrerenderedVoice

logger = logging.getLogger("phone-agent.recovery")

CALLBACK_DIGIT = "1"
CALLBACK_WAIT_S = 10.0

EventSink = Callable[[str, str], None]


class Handover:
    def __init__(self, session: AgentSession[CallState], state: CallState, *,
                 plan: TransferPlan, voice: PrerenderedVoice, repo: RepoSource,
                 on_event: EventSink, on_transfer: Callable[[TransferOutcome], None],
                 transfer: Callable[[CallState, TransferPlan, str], Awaitable[TransferOutcome]]
                 = cold_transfer) -> None:
        self._session = session
        self._state = state
        self._plan = plan
        self._voice = voice
        self._repo = repo
        self._on_event = on_event
        self._on_transfer = on_transfer
        self._transfer = transfer
        self._digit: asyncio.Future[str] | None = None
        self.active = False

    async def say(self, name: str, *, interruptible: bool = False) -> None:
        """Play a pre-rendered line through the session (in the transcript, no TTS)."""
        clip = self._voice[name]
        handle = self._session.say(clip.text, audio=clip.frames(),
                                   allow_interruptions=interruptible, add_to_chat_ctx=True)
        await handle.wait_for_playout()

    def on_digit(self, digit: str) -> bool:
        """A keypad digit while the callback offer waits for it (True: taken)."""
        if self._digit is None or self._digit.done():
            return False
        self._digit.set_result(digit)
        return True

    async def run(self, reason: str) -> None:
        """Hand the caller over because `reason` (e.g. "llm: every model failed")."""
        if self.active or self._state.ended_by is not None:
            return
        self.active = True
        logger.warning("handing the call over: %s", reason, extra={"call": self._state.call_uid})
        self._session.interrupt()
        outcome = await self._try_transfer()
        if outcome is not None and outcome.ok:
            self._on_event("handover", f"{reason}; transferred to {outcome.destination}")
            return
        number = normalize_caller_number(self._state.caller.phone_number)
        # A callback is offered only while there is a database to keep it in.
        repo = current_repo(self._repo)
        if self._state.caller.is_phone and number is not None and repo is not None:
            await self.say("callback_offer")
            self._digit = asyncio.get_running_loop().create_future()
            try:
                digit = await asyncio.wait_for(self._digit, CALLBACK_WAIT_S)
            except TimeoutError:
                digit = ""
            if digit == CALLBACK_DIGIT:
                try:
                    await repo.create_callback(phone_e164=number, call_id=self._state.call_uid,
                                               reason=f"provider outage: {reason}"[:300])
                except Exception:  # the database went away meanwhile: don't promise a call
                    logger.exception("could not store the callback",
                                     extra={"call": self._state.call_uid})
                else:
                    self._on_event("handover", f"{reason}; callback booked on the keypad")
                    await self._goodbye("callback_booked")
                    return
        self._on_event("handover", f"{reason}; no transfer or callback, call ended")
        await self._goodbye("call_again")

    async def _try_transfer(self) -> TransferOutcome | None:
        if not self._state.caller.is_phone or not self._plan.candidates("support"):
            return None
        await self.say("handover")
        outcome = await self._transfer(self._state, self._plan, "support")
        self._on_transfer(outcome)
        if outcome.ok:
            self._state.end(EndedBy.TRANSFER)
        return outcome

    async def _goodbye(self, name: str) -> None:
        await self.say(name)
        self._state.end(EndedBy.AGENT)
        self._session.shutdown(drain=True)
