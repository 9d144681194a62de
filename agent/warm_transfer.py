"""Warm transfer that works on a self-hosted LiveKit server (no `MoveParticipant`).

LiveKit's `WarmTransferTask` briefs the human in a second room and then *moves* them into the
caller's room, which only LiveKit Cloud implements. Here the human is dialled straight into the
caller's room through the outbound trunk, and who hears whom is controlled on the server:

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
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.duration_pb2 import Duration
from livekit import api, rtc
from livekit.agents import (
    AudioConfig,
    BackgroundAudioPlayer,
    BuiltinAudioClip,
    RunContext,
    StopResponse,
    ToolError,
    function_tool,
    get_job_context,
    llm,
)

from .call_state import CallState

logger = logging.getLogger("phone-agent.warm_transfer")

HOLD_SENTENCE = "Let me get a colleague on the line for you. Please hold."
NOBODY_AVAILABLE = (
    "The warm transfer did not go through: no colleague answered. Tell the caller in one "
    "sentence that nobody is available right now, and offer to take a callback number."
)
SUMMARY_PROMPT = (
    "Write the hand-over note you will say to a colleague who is about to take over this "
    "phone call. Two short spoken sentences: who is calling (no phone numbers, no account "
    "details) and what they need. Start with 'Hello, I have a caller'. Plain words only."
)
SUMMARY_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class WarmTransferPlan:
    """Which number is dialled (through the outbound trunk) for each department."""

    destinations: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> WarmTransferPlan:
        """`department=+number` pairs separated by commas; `default=` catches the rest."""
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            name, _, number = part.partition("=")
            if name.strip() and number.strip():
                out[name.strip().lower()] = number.strip()
        return cls(out)

    def number_for(self, department: str) -> str | None:
        return self.destinations.get(department.lower()) or self.destinations.get("default")


def fallback_summary(history: list[tuple[str, str]], department: str) -> str:
    """Deterministic hand-over note when the LLM can't write one in time."""
    said = [text for role, text in history if role == "user" and text.strip()]
    last = said[-1].strip().rstrip(".?!") if said else ""
    note = f"Hello, I have a caller for {department}."
    if last:
        note += f" They said: {redact_digits(last)[:160]}."
    return note


def redact_digits(text: str) -> str:
    """No numbers in the briefing: phone numbers, PINs and account numbers stay out."""
    return re.sub(r"\d[\d\s-]{2,}\d", "[number]", text)


def chat_history(chat_ctx: llm.ChatContext) -> list[tuple[str, str]]:
    return [(item.role, item.text_content or "") for item in chat_ctx.items
            if isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant")
            and item.text_content]


async def write_summary(model: Any, history: list[tuple[str, str]], department: str) -> str:
    """An LLM-written hand-over note from the conversation, or the deterministic fallback."""
    if model is None or not history:
        return fallback_summary(history, department)
    transcript = "\n".join(f"{'Caller' if r == 'user' else 'Assistant'}: {t}"
                           for r, t in history[-20:])
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You summarise phone calls for colleagues.")
    ctx.add_message(role="user", content=f"Conversation so far:\n{transcript}\n\n"
                                         f"Department: {department}.\n{SUMMARY_PROMPT}")
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT_S):
            stream = model.chat(chat_ctx=ctx)
            text = ""
            async with stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        text += chunk.delta.content
    except Exception as e:
        logger.warning("summary generation failed; using the fallback: %s", e)
        return fallback_summary(history, department)
    text = redact_digits(" ".join(text.split()))
    return text[:400] or fallback_summary(history, department)


class AudioIsolation:
    """Server-side control of who hears whom while the caller is on hold."""

    def __init__(self, lk: api.LiveKitAPI, room: rtc.Room, caller: str, human: str) -> None:
        self.lk = lk
        self.room = room
        self.caller = caller
        self.human = human

    def _audio_sids(self, identity: str) -> list[str]:
        p = self.room.remote_participants.get(identity)
        if p is None:
            return []
        return [sid for sid, pub in p.track_publications.items()
                if pub.kind == rtc.TrackKind.KIND_AUDIO]

    async def _subscribe(self, who: str, to: str, subscribe: bool) -> None:
        sids = self._audio_sids(to)
        if not sids or who not in self.room.remote_participants:
            return
        try:
            await self.lk.room.update_subscriptions(api.UpdateSubscriptionsRequest(
                room=self.room.name, identity=who, track_sids=sids, subscribe=subscribe))
        except Exception as e:  # the participant just left, ...
            logger.warning("update_subscriptions failed", extra={"who": who, "to": to,
                                                                 "error": str(e)})

    async def separate(self) -> None:
        await asyncio.gather(self._subscribe(self.caller, self.human, False),
                             self._subscribe(self.human, self.caller, False))

    async def join(self) -> None:
        await asyncio.gather(self._subscribe(self.caller, self.human, True),
                             self._subscribe(self.human, self.caller, True))

    def agent_tracks_for(self, *, caller_sids: list[str], human_sids: list[str]) -> None:
        """Limit the agent's own tracks: caller hears `caller_sids`, human `human_sids`."""
        self.room.local_participant.set_track_subscription_permissions(
            allow_all_participants=False,
            participant_permissions=[
                rtc.ParticipantTrackPermission(participant_identity=self.caller,
                                               allow_all=False, allowed_track_sids=caller_sids),
                rtc.ParticipantTrackPermission(participant_identity=self.human,
                                               allow_all=False, allowed_track_sids=human_sids),
            ])

    async def refresh_caller(self) -> None:
        """Re-subscribe the caller to the agent's own audio after the human's track is gone.

        livekit-sip v1.8.0 stops delivering room audio to a caller once one of the caller's
        subscriptions closes mid-call (here: the unanswered human's track); a fresh
        subscription restarts it (measured in tests/integration/test_sip_warm_transfer.py).
        """
        me = self.room.local_participant
        sids = [sid for sid, pub in me.track_publications.items()
                if pub.kind == rtc.TrackKind.KIND_AUDIO]
        if not sids or self.caller not in self.room.remote_participants:
            return
        for subscribe in (False, True):
            try:
                await self.lk.room.update_subscriptions(api.UpdateSubscriptionsRequest(
                    room=self.room.name, identity=self.caller, track_sids=sids,
                    subscribe=subscribe))
            except Exception as e:
                logger.warning("could not refresh the caller's audio", extra={"error": str(e)})
                return
            await asyncio.sleep(0.2)

    def agent_tracks_for_all(self) -> None:
        self.room.local_participant.set_track_subscription_permissions(
            allow_all_participants=True)


class BriefingTrack:
    """A separate audio track for briefing the human, synthesized with the session's TTS."""

    def __init__(self, room: rtc.Room, tts: Any, source: rtc.AudioSource,
                 publication: rtc.LocalTrackPublication) -> None:
        self._room, self._tts, self._source, self._pub = room, tts, source, publication

    @classmethod
    async def publish(cls, room: rtc.Room, tts: Any) -> BriefingTrack:
        source = rtc.AudioSource(tts.sample_rate, tts.num_channels)
        track = rtc.LocalAudioTrack.create_audio_track("briefing", source)
        pub = await room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        return cls(room, tts, source, pub)

    @property
    def sid(self) -> str:
        return self._pub.sid

    async def speak(self, text: str) -> None:
        from .speech_text import normalize_for_speech

        async with self._tts.synthesize(normalize_for_speech(text)) as stream:
            async for ev in stream:
                await self._source.capture_frame(ev.frame)
        await self._source.wait_for_playout()

    async def aclose(self) -> None:
        try:
            await self._room.local_participant.unpublish_track(self._pub.sid)
        except Exception as e:  # already gone with the room
            logger.debug("briefing track unpublish failed: %s", e)
        await self._source.aclose()


@dataclass
class WarmTransferResult:
    ok: bool
    detail: str
    summary: str = ""


async def run_warm_transfer(session: Any, state: CallState, *, department: str, number: str,
                            settings: Any, on_event: Callable[[str, str], None]
                            ) -> WarmTransferResult:
    """Hold → dial the human into this room → brief → connect, or come back to the caller."""
    from .outbound import classify_dial_error, outbound_trunk_id

    job = get_job_context()
    room, lk = job.room, job.api
    human = f"human-{department}-{uuid.uuid4().hex[:6]}"
    iso = AudioIsolation(lk, room, state.caller.identity, human)
    history = chat_history(session.history)
    summary_task = asyncio.create_task(write_summary(session.llm, history, department))

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
    briefing = await BriefingTrack.publish(room, session.tts)
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
            except Exception:
                pass
        await asyncio.sleep(0.5)  # let the human's leg and track go first
        await iso.refresh_caller()
        session.input.set_audio_enabled(True)
        on_event("warm_transfer_failed", f"{department}: {detail}")
        return WarmTransferResult(False, detail)

    # 2. Dial the human into this room.
    try:
        trunk = await outbound_trunk_id(lk, settings.sip_outbound_trunk_id)
        await lk.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id=trunk, sip_call_to=number, room_name=room.name,
                participant_identity=human, participant_name=f"Colleague ({department})",
                wait_until_answered=True,
                ringing_timeout=Duration(seconds=settings.outbound_ringing_timeout)),
            timeout=settings.outbound_ringing_timeout + 10)
    except api.SipCallError as e:
        outcome = classify_dial_error(e.sip_status_code, e.message)
        return await back_to_caller(f"{outcome} (SIP {e.sip_status_code or '-'} {e.message})")
    except api.TwirpError as e:  # e.g. livekit-sip's ringing timeout: no SIP status
        outcome = classify_dial_error(None, e.message)
        return await back_to_caller(f"{outcome} ({e.code}: {e.message})")
    except Exception as e:
        return await back_to_caller(f"failed ({type(e).__name__}: {e})")
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


def leave_call(session: Any) -> None:
    """End the agent's part without deleting the room (caller and human stay connected)."""
    room_io = getattr(session, "_room_io", None)
    options = getattr(room_io, "_options", None)
    if options is not None:
        options.delete_room_on_close = False  # set for phone calls in worker.entrypoint
    session.shutdown(drain=True)
    try:
        job = get_job_context()
    except RuntimeError:
        return
    job.shutdown(reason="warm transfer completed")


def tools_for(settings: Any, record: Any = None) -> list[Any]:
    """The `warm_transfer_to_human` tool when WARM_TRANSFER_DESTINATIONS is set."""
    plan = WarmTransferPlan.parse(getattr(settings, "warm_transfer_destinations", ""))
    if not plan.destinations:
        return []
    running: set[asyncio.Task[None]] = set()

    def event(kind: str, detail: str) -> None:
        logger.info(kind, extra={"detail": detail})
        if record is not None:
            record.event(kind, detail)

    async def transfer(session: Any, state: CallState, department: str, number: str) -> None:
        try:
            result = await run_warm_transfer(session, state, department=department,
                                             number=number, settings=settings, on_event=event)
        except Exception as e:
            logger.exception("warm transfer crashed")
            event("warm_transfer_failed", f"{department}: {type(e).__name__}")
            session.input.set_audio_enabled(True)
            result = WarmTransferResult(False, str(e))
        if result.ok:
            state.ended_by = "transfer"
            leave_call(session)
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
        department = (department or "support").strip().lower()[:32]
        if not state.caller.is_phone:
            raise ToolError("Transfers only work on phone calls. Offer to take a callback "
                            "number instead.")
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
