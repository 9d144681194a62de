"""Telephony: who is calling, keypad digits, hand-over to humans, and ending the call.

Transfers use SIP REFER (`TransferSIPParticipant`), which works on a self-hosted LiveKit SIP
bridge. The API can report a failed transfer without raising, so the response status is
checked as well as exceptions, and a fallback destination is tried before giving up.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from livekit import api, rtc
from livekit.agents import RunContext, StopResponse, ToolError, function_tool, get_job_context
from livekit.agents.beta.tools import EndCallTool

from .call_state import CallerInfo, CallState

logger = logging.getLogger("phone-agent.telephony")

KEYPAD_HUMAN = "0"

# DTMF codes the bridge sends: 0-9 are the digits, 10 = "*", 11 = "#".
_DTMF_DIGITS = {10: "*", 11: "#"}


def caller_from_participant(participant: rtc.RemoteParticipant) -> CallerInfo:
    """Read caller number, dialled number and call id from the SIP bridge's attributes."""
    attrs = participant.attributes or {}
    is_sip = participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    if not is_sip:
        return CallerInfo(identity=participant.identity, kind="standard")
    # The bridge sets sip.ruleID only for inbound calls (matched by a dispatch rule).
    direction = "inbound" if attrs.get("sip.ruleID") else "outbound"
    return CallerInfo(
        identity=participant.identity,
        kind="sip",
        phone_number=attrs.get("sip.phoneNumber") or None,
        dialled_number=attrs.get("sip.trunkPhoneNumber") or None,
        call_id=attrs.get("sip.callID") or None,
        direction=direction,
    )


def dtmf_digit(code: int, digit: str) -> str:
    return digit or _DTMF_DIGITS.get(code, str(code) if 0 <= code <= 9 else "")


@dataclass(frozen=True)
class TransferPlan:
    """Where each department's calls go, e.g. {"support": "sip:support@pbx", "default": ...}."""

    destinations: dict[str, str]
    fallback: str | None = None

    @classmethod
    def parse(cls, spec: str, fallback: str | None = None) -> TransferPlan:
        """`department=uri` pairs separated by commas."""
        destinations: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, uri = part.partition("=")
            destinations[name.strip().lower()] = uri.strip()
        return cls(destinations, fallback or None)

    def problems(self) -> list[str]:
        bad = [f"{k}={v}" for k, v in self.destinations.items()
               if not re.match(r"^(sip:|sips:|tel:)\S+$", v)]
        if self.fallback and not re.match(r"^(sip:|sips:|tel:)\S+$", self.fallback):
            bad.append(f"fallback={self.fallback}")
        return bad

    def candidates(self, department: str) -> list[str]:
        first = self.destinations.get(department.lower()) or self.destinations.get("default")
        ordered = [d for d in (first, self.fallback) if d]
        return list(dict.fromkeys(ordered))  # unique, in order


@dataclass
class TransferOutcome:
    ok: bool
    destination: str | None
    detail: str


Transferrer = Callable[[str, str, str], Awaitable[api.TransferSIPParticipantResponse]]


async def _refer(room_name: str, identity: str, destination: str
                 ) -> api.TransferSIPParticipantResponse:
    lk = get_job_context().api
    return await lk.sip.transfer_sip_participant(
        api.TransferSIPParticipantRequest(
            room_name=room_name,
            participant_identity=identity,
            transfer_to=destination,
            play_dialtone=True,  # the caller hears ringing, not silence, while it connects
        )
    )


async def cold_transfer(state: CallState, plan: TransferPlan, department: str,
                        refer: Transferrer = _refer) -> TransferOutcome:
    """REFER the caller to the department's destination, then to the fallback."""
    if not state.caller.is_phone:
        return TransferOutcome(False, None, "caller is not on a phone line")
    candidates = plan.candidates(department)
    if not candidates:
        return TransferOutcome(False, None, f"no destination configured for {department!r}")
    state.transfer_in_progress = True
    try:
        return await _try_destinations(state, department, candidates, refer)
    finally:
        state.transfer_in_progress = False


async def _try_destinations(state: CallState, department: str, candidates: list[str],
                            refer: Transferrer) -> TransferOutcome:
    detail = ""
    for destination in candidates:
        started = time.monotonic()
        try:
            resp = await refer(state.room_name, state.caller.identity, destination)
        except api.SipCallError as e:
            detail = f"refused with SIP {e.sip_status_code} {e.sip_status}"
        except Exception as e:  # the bridge down, a timeout, an unknown participant
            detail = f"failed: {type(e).__name__}: {e}"
        else:
            # ONGOING: the far end accepted the REFER (202) and is connecting; the bridge
            # drops our leg once it completes. Only FAILED means it didn't take.
            if resp.status in (api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL,
                               api.SIPTransferStatus.STS_TRANSFER_ONGOING):
                logger.info("transfer succeeded", extra={"department": department,
                            "destination": destination,
                            "ms": round((time.monotonic() - started) * 1000)})
                return TransferOutcome(True, destination, "transferred")
            detail = (f"status {api.SIPTransferStatus.Name(resp.status)} "
                      f"reason {resp.reason} sip {resp.sip_status}")
        logger.warning("transfer attempt failed", extra={"department": department,
                       "destination": destination, "detail": detail})
    return TransferOutcome(False, None, detail)


def make_transfer_tool(plan: TransferPlan) -> Callable[..., Awaitable[None]]:
    @function_tool
    async def transfer_to_human(ctx: RunContext[CallState], department: str = "support"
                                ) -> None:
        """Transfer the caller to a human colleague. Use it when the caller asks for a person,
        a human, an agent or a representative, presses zero, or when you cannot help.
        Tell the caller you are transferring them before calling this.

        Args:
            department: "support", "sales" or "billing"; "support" when unsure.
        """
        state = ctx.userdata
        department = (department or "support").strip().lower()[:32]
        if not state.caller.is_phone:
            raise ToolError(
                "Transfers only work on phone calls. Offer to take a callback number instead."
            )
        # The caller must hear the hand-over sentence before the line starts ringing.
        await ctx.wait_for_playout()
        outcome = await cold_transfer(state, plan, department)
        if outcome.ok:
            state.ended_by = "transfer"
            raise StopResponse()  # the caller is with a person now: nothing more to say
        raise ToolError(
            "The transfer did not go through. Apologise, say no one could take the call "
            "right now, and offer to take a callback number."
        )

    return transfer_to_human


HANDOVER_SENTENCE = "Connecting you to a colleague now. Please hold."
HANDOVER_FAILED = (
    "The transfer the caller asked for by pressing zero did not go through. Apologise in one "
    "sentence, say no one could take the call right now, and offer to take a callback number."
)


async def keypad_handover(session: Any, state: CallState, plan: TransferPlan,
                          department: str = "support") -> TransferOutcome:
    """"0" on the keypad: hand over without waiting for the model to decide anything."""
    session.interrupt()
    if not state.caller.is_phone:
        session.generate_reply(instructions=HANDOVER_FAILED)
        return TransferOutcome(False, None, "caller is not on a phone line")
    handle = session.say(HANDOVER_SENTENCE, allow_interruptions=False, add_to_chat_ctx=True)
    await handle.wait_for_playout()
    outcome = await cold_transfer(state, plan, department)
    if outcome.ok:
        state.ended_by = "transfer"
    else:
        session.generate_reply(instructions=HANDOVER_FAILED)
    return outcome


def make_end_call_tool(state_getter: Callable[[], CallState | None]) -> EndCallTool:
    """LiveKit's EndCallTool: the goodbye plays out fully, then the room is deleted, which
    hangs up the caller's phone leg too (ending only the agent's session would leave the
    caller in silence)."""

    async def on_called(_: object) -> None:
        state = state_getter()
        if state is not None and state.ended_by is None:
            state.ended_by = "agent"

    return EndCallTool(
        delete_room=True,
        end_instructions="Say a short, friendly goodbye. Nothing else.",
        ignore_on_enter=True,
        on_tool_called=on_called,
        extra_description="Use it once the caller has said they have nothing else.",
    )


class KeypadInput:
    """Collects keypad digits for the current call.

    "0" on an empty entry asks for a human at any time. Other digits accumulate in
    `CallState.dtmf_buffer` (where the PIN check reads them); "#" or a pause of
    `entry_timeout` seconds submits the entry to the conversation, "*" clears it.
    """

    def __init__(self, state: CallState, on_human: Callable[[], Awaitable[None]],
                 on_entry: Callable[[str], Awaitable[None]], *,
                 entry_timeout: float = 2.5) -> None:
        self._state = state
        self._on_human = on_human
        self._on_entry = on_entry
        self._entry_timeout = entry_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _submit(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._state.dtmf_buffer:
            self._spawn(self._on_entry(self._state.dtmf_buffer))

    def handle(self, digit: str) -> None:
        if not digit:
            return
        if digit == KEYPAD_HUMAN and not self._state.dtmf_buffer:
            self._spawn(self._on_human())
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
