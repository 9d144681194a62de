"""Warm transfer that works on a self-hosted LiveKit server (no `MoveParticipant`).

LiveKit's `WarmTransferTask` briefs the human in a second room and then *moves* them into the
caller's room, which only LiveKit Cloud implements. Here the human is dialled straight into the
caller's room through the outbound trunk (`dialer.dial`), and who hears whom is controlled on
the server:

- the agent's own tracks: `set_track_subscription_permissions` lets the caller receive the
  hold music and the agent's voice (silent while on hold) and the human only a separate
  briefing track. The caller's access to the voice is never revoked: livekit-sip does not
  resubscribe a caller whose permission was revoked and restored;
- the caller's and the human's tracks (published by the SIP bridge, which subscribes to every
  audio track in the room): the server API `UpdateSubscriptions` unsubscribes the caller from
  the human's track and the human from the caller's. livekit-sip v1.8.0 publishes the human's
  track as soon as it joins (while ringing) and subscribes the human's leg only once answered,
  so both unsubscribes are (re)applied at those moments — before the human can say anything.

Then the agent briefs the human, re-subscribes both sides, stops the hold music and leaves the
room without deleting it: the call goes on between caller and human. If the human doesn't
answer (or is busy), the hold ends and the agent offers the caller a callback.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from livekit import api, rtc
from livekit.agents import (
    AgentSession,
    AudioConfig,
    BackgroundAudioPlayer,
    BuiltinAudioClip,
    FunctionTool,
    RunContext,
    StopResponse,
    ToolError,
    function_tool,
    get_job_context,
    llm,
)

from ..call_state import CallState, EndedBy
from ..config import Settings
from .briefing import BriefingTrack, chat_history, write_summary
from .cold_transfer import NOT_ON_A_PHONE, clean_department
from .dialer import dial
from .isolation import AudioIsolation

logger = logging.getLogger("phone-agent.warm_transfer")

HOLD_SENTENCE = "Let me get a colleague on the line for you. Please hold."
NOBODY_AVAILABLE = (
    "The warm transfer did not go through: no colleague answered. Tell the caller in one "
    "sentence that nobody is available right now, and offer to take a callback number."
)

EventSink = Callable[[str, str], None]  # (kind, detail) -> the call record


@dataclass
class WarmTransferResult:
    ok: bool
    detail: str
    summary: str = ""


async def run_warm_transfer(session: AgentSession[CallState], state: CallState, *,
                            department: str, number: str, settings: Settings,
                            on_event: EventSink) -> WarmTransferResult:
    """Hold → dial the human into this room → brief → connect, or come back to the caller."""
    job = get_job_context()
    room, lk = job.room, job.api
    human = f"human-{department}-{uuid.uuid4().hex[:6]}"
    iso = AudioIsolation(lk, room, state.caller.identity, human)
    history = chat_history(session.history)
    model = session.llm if isinstance(session.llm, llm.LLM) else None  # not a realtime model
    summary_task = asyncio.create_task(write_summary(model, history, department))

    # 1. Tell the caller, then hold: stop listening, hold music for the caller only.
    await session.say(HOLD_SENTENCE, allow_interruptions=False).wait_for_playout()
    session.input.set_audio_enabled(False)
    player = BackgroundAudioPlayer()
    await player.start(room=room)
    # The brief goes out on a track of its own that only the human may receive. The caller
    # keeps the agent's voice track throughout: livekit-sip does not resubscribe a caller whose
    # permission to a track was revoked and restored, so revoking it would leave the caller
    # deaf to the agent if nobody answers.
    # Order matters: the caller's allow-list is fixed before the briefing track exists, so the
    # bridge never subscribes the caller to it (a subscription closed mid-call silences the
    # caller's audio in livekit-sip v1.8.0, see AudioIsolation.refresh_caller).
    caller_sids = [sid for sid, pub in room.local_participant.track_publications.items()
                   if pub.kind == rtc.TrackKind.KIND_AUDIO]
    iso.agent_tracks_for(caller_sids=caller_sids, human_sids=[])
    speech = session.tts
    assert speech is not None  # the session is built with a TTS (agent/call.py)
    briefing = await BriefingTrack.publish(room, speech)
    iso.agent_tracks_for(caller_sids=caller_sids, human_sids=[briefing.sid])
    hold = player.play(AudioConfig(BuiltinAudioClip.HOLD_MUSIC, volume=0.8), loop=True)

    # The human's leg publishes its track while ringing; the caller's bridge subscribes at
    # once. Unsubscribe the caller from it right away (and once more a moment later).
    pending: set[asyncio.Future[None]] = set()

    def _separate_soon() -> None:
        fut = asyncio.ensure_future(iso.separate())
        pending.add(fut)
        fut.add_done_callback(pending.discard)

    def _on_track(pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
        if p.identity == human:
            _separate_soon()
            asyncio.get_running_loop().call_later(0.5, _separate_soon)

    room.on("track_published", _on_track)

    async def back_to_caller(detail: str) -> WarmTransferResult:
        room.off("track_published", _on_track)
        # Stop the music but keep the (now silent) hold track published until the call ends:
        # when one of the agent's tracks is unpublished mid-call, livekit-sip v1.8.0 stops
        # forwarding the agent's voice to the caller (measured: silence after the hold).
        hold.stop()
        iso.agent_tracks_for_all()
        await briefing.aclose()
        if human in room.remote_participants:
            try:
                await lk.room.remove_participant(api.RoomParticipantIdentity(
                    room=room.name, identity=human))
            except Exception as e:  # already gone
                logger.debug("could not remove the colleague's leg: %s", e)
        await asyncio.sleep(0.5)  # let the human's leg and track go first
        await iso.refresh_caller()
        session.input.set_audio_enabled(True)
        on_event("warm_transfer_failed", f"{department}: {detail}")
        return WarmTransferResult(False, detail)

    # 2. Dial the human into this room.
    result = await dial(lk, trunk_id=settings.sip_outbound_trunk_id, number=number,
                        room=room.name, identity=human,
                        name=f"Colleague ({department})",
                        ringing_timeout=settings.outbound_ringing_timeout)
    if not result.answered:
        return await back_to_caller(f"{result.outcome} ({result.detail})")
    # Answered: the human's leg has just subscribed to everything; cut the caller out.
    await iso.separate()
    if state.caller.identity not in room.remote_participants:
        return await back_to_caller("the caller hung up while on hold")

    # 3. Brief the human (only they receive the agent's voice track).
    summary = await summary_task
    await asyncio.sleep(0.5)
    await iso.separate()
    await briefing.speak(summary)

    # 4. Connect them, stop the hold music, and leave the room (the call goes on).
    room.off("track_published", _on_track)
    await iso.join()
    hold.stop()
    await player.aclose()
    await briefing.aclose()
    on_event("warm_transfer", f"{department}: connected {human}")
    return WarmTransferResult(True, f"connected {human}", summary)


def tools_for(settings: Settings, on_event: EventSink,
              leave_call: Callable[[], None]) -> list[FunctionTool]:
    """The `warm_transfer_to_human` tool when WARM_TRANSFER_DESTINATIONS is set.

    `leave_call` ends the agent's part once caller and colleague are connected, without
    deleting the room (the call lifecycle owns that, agent/call.py)."""
    plan = settings.warm_transfer_plan
    if not plan.destinations:
        return []
    running: set[asyncio.Task[None]] = set()

    def event(kind: str, detail: str) -> None:
        logger.info(kind, extra={"detail": detail})
        on_event(kind, detail)

    async def transfer(session: AgentSession[CallState], state: CallState, department: str,
                       number: str) -> None:
        try:
            result = await run_warm_transfer(session, state, department=department,
                                             number=number, settings=settings, on_event=event)
        except Exception as e:
            logger.exception("warm transfer crashed")
            event("warm_transfer_failed", f"{department}: {type(e).__name__}")
            session.input.set_audio_enabled(True)
            result = WarmTransferResult(False, str(e))
        if result.ok:
            state.end(EndedBy.TRANSFER)
            leave_call()
        else:
            session.generate_reply(instructions=NOBODY_AVAILABLE)

    @function_tool
    async def warm_transfer_to_human(ctx: RunContext[CallState], department: str = "support"
                                     ) -> None:
        """Put the caller on hold, brief a human colleague about the call, then connect them.
        Use it when the caller asks for a person, a human, an agent or a representative.
        Don't say anything before calling it: it tells the caller to hold by itself.

        Args:
            department: "support", "sales" or "billing"; "support" when unsure.
        """
        state = ctx.userdata
        department = clean_department(department)
        if not state.caller.is_phone:
            raise ToolError(NOT_ON_A_PHONE)
        number = plan.number_for(department)
        if number is None:
            raise ToolError(f"No colleague can be reached for {department}. Offer to take a "
                            "callback number.")
        if running:
            raise ToolError("A transfer is already in progress; wait.")
        task = asyncio.create_task(transfer(ctx.session, state, department, number))
        running.add(task)
        task.add_done_callback(running.discard)
        raise StopResponse()  # the transfer speaks for itself

    return [warm_transfer_to_human]
