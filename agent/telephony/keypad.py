"""The keypad: "0" hands over to a human without asking the model; other digits are entries.

Digits collect in `CallState.dtmf_buffer` (where the PIN check reads them); "#" or a pause
submits the entry, "*" clears it. A submitted entry reaches the conversation only as
`KEYPAD_ENTRY_NOTE`: typed digits never enter the transcript or the model's context. "*" on an
empty entry declines the recording when RECORDING=consent (agent/recording/consent.py):
pressing it twice to clear an entry can decline by accident, which only ever loses a
recording, never makes one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from livekit.agents import AgentSession

from ..call_state import CallState, EndedBy
from .cold_transfer import TransferOutcome, cold_transfer
from .destinations import TransferPlan

KEYPAD_HUMAN = "0"
KEYPAD_DECLINE_RECORDING = "*"  # the recording notice says "press star"
# What the model (and so the transcript) is told when the caller submits keypad digits.
KEYPAD_ENTRY_NOTE = ("(the caller typed their PIN on the keypad; call verify_identity with no "
                     "arguments to check it)")

# DTMF codes the bridge sends: 0-9 are the digits, 10 = "*", 11 = "#".
_DTMF_DIGITS = {10: "*", 11: "#"}

HANDOVER_SENTENCE = "Connecting you to a colleague now. Please hold."
HANDOVER_FAILED = (
    "The transfer the caller asked for by pressing zero did not go through. Apologise in one "
    "sentence, say no one could take the call right now, and offer to take a callback number."
)


def dtmf_digit(code: int, digit: str) -> str:
    return digit or _DTMF_DIGITS.get(code, str(code) if 0 <= code <= 9 else "")


class _Transfer(Protocol):
    async def __call__(self, state: CallState, plan: TransferPlan, department: str
                       ) -> TransferOutcome: ...


async def keypad_handover(session: AgentSession[CallState], state: CallState,
                          plan: TransferPlan, department: str = "support",
                          transfer: _Transfer = cold_transfer) -> TransferOutcome:
    """"0" on the keypad: hand over without waiting for the model to decide anything."""
    session.interrupt()
    if not state.caller.is_phone:
        session.generate_reply(instructions=HANDOVER_FAILED)
        return TransferOutcome(False, None, "caller is not on a phone line")
    handle = session.say(HANDOVER_SENTENCE, allow_interruptions=False, add_to_chat_ctx=True)
    await handle.wait_for_playout()
    outcome = await transfer(state, plan, department)
    if outcome.ok:
        state.end(EndedBy.TRANSFER)
    else:
        session.generate_reply(instructions=HANDOVER_FAILED)
    return outcome


class KeypadInput:
    """Collects keypad digits for the current call.

    "0" on an empty entry asks for a human at any time. Other digits accumulate in
    `CallState.dtmf_buffer`; "#" or a pause of `entry_timeout` seconds submits the entry,
    "*" clears it.
    """

    def __init__(self, state: CallState, on_human: Callable[[], Awaitable[None]],
                 on_entry: Callable[[], Awaitable[None]], *,
                 on_decline_recording: Callable[[], None] | None = None,
                 entry_timeout: float = 2.5) -> None:
        self._state = state
        self._on_human = on_human
        self._on_entry = on_entry
        self._on_decline_recording = on_decline_recording
        self._entry_timeout = entry_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _submit(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._state.dtmf_buffer:
            self._spawn(self._on_entry())  # the digits stay in the call state

    def handle(self, digit: str) -> None:
        if not digit:
            return
        if digit == KEYPAD_HUMAN and not self._state.dtmf_buffer:
            self._spawn(self._on_human())
            return
        if (digit == KEYPAD_DECLINE_RECORDING and not self._state.dtmf_buffer
                and self._on_decline_recording is not None):
            self._on_decline_recording()
            return
        if digit == "*":
            self._state.dtmf_buffer = ""
        elif digit == "#":
            self._submit()
            return
        else:
            self._state.dtmf_buffer = (self._state.dtmf_buffer + digit)[-32:]
        if self._timer:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._entry_timeout, self._submit)
