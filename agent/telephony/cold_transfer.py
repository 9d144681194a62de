"""Cold transfer: SIP REFER (`TransferSIPParticipant`) to a department, then the fallback.

Works on a self-hosted LiveKit SIP bridge. The API can report a failed transfer without
raising, so the response status is checked as well as exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from livekit import api
from livekit.agents import (
    FunctionTool,
    RunContext,
    StopResponse,
    ToolError,
    function_tool,
    get_job_context,
)

from ..call_state import CallState, EndedBy
from .destinations import TransferPlan

logger = logging.getLogger("phone-agent.transfer")

# How long a REFER whose answer was lost may still take the caller away. livekit-sip v1.8.0
# can report "transaction failed to complete (0 intermediate responses)" for a REFER the
# phone accepted: tests/integration/test_monitoring.py saw the bridge log that failure in the
# millisecond of the phone's NOTIFY 100, the NOTIFY 200 50 ms later, and the caller with the
# colleague. The caller's leg leaving within this window means the transfer went through.
LOST_ANSWER_GRACE_S = 4.0

NOT_ON_A_PHONE = "Transfers only work on phone calls. Offer to take a callback number instead."


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
        except Exception as e:  # a SIP refusal, the bridge down, a timeout, an unknown caller
            detail = (f"refused with SIP {e.sip_status_code} {e.sip_status}"
                      if isinstance(e, api.SipCallError) else f"failed: {type(e).__name__}: {e}")
            if _answer_lost(e) and await _caller_taken(state):
                logger.info("transfer succeeded though its answer was lost",
                            extra={"department": department, "destination": destination,
                                   "detail": detail})
                return TransferOutcome(True, destination, f"transferred ({detail})")
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


def _answer_lost(e: Exception) -> bool:
    """Did the REFER's answer go missing (rather than the phone refusing it)?"""
    if isinstance(e, TimeoutError):
        return True
    code = e.sip_status_code if isinstance(e, api.SipCallError) else None
    message = f"{e} {getattr(e, 'message', '')}"
    return code == 408 or "transaction failed to complete" in message


async def _caller_taken(state: CallState) -> bool:
    try:
        await asyncio.wait_for(state.caller_gone.wait(), LOST_ANSWER_GRACE_S)
    except TimeoutError:
        return False
    return True


def clean_department(department: str | None) -> str:
    return (department or "support").strip().lower()[:32]


def make_transfer_tool(plan: TransferPlan,
                       on_outcome: Callable[[TransferOutcome], None] | None = None
                       ) -> FunctionTool:
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
        if not state.caller.is_phone:
            raise ToolError(NOT_ON_A_PHONE)
        # The caller must hear the hand-over sentence before the line starts ringing.
        await ctx.wait_for_playout()
        outcome = await cold_transfer(state, plan, clean_department(department))
        if on_outcome is not None:
            on_outcome(outcome)
        if outcome.ok:
            state.end(EndedBy.TRANSFER)
            raise StopResponse()  # the caller is with a person now: nothing more to say
        raise ToolError(
            "The transfer did not go through. Apologise, say no one could take the call "
            "right now, and offer to take a callback number."
        )

    return transfer_to_human
