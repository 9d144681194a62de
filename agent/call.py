"""One call, from dispatch to hang-up: the single path inbound SIP, outbound SIP and browser
calls all follow.

    worker.entrypoint ─► run_call(ctx, resources)
        who is on the line ── an outbound dispatch (metadata) or the participant who joined
        CallState ─► providers (failover chains) ─► AgentSession ─► call record
        (observability/calls.py) ─► recovery (no turn ends in silence, handover)
        tools: business tools + cold/warm transfer + end_call (assistant.py, telephony/)
        keypad (telephony/keypad.py) and hang-up detection on the room
        recording consent (recording/) and webhooks (webhooks/events.py)
        session.start(...) ─► outbound calls then dial (telephony/outbound.py)
    the session closes (caller gone, end_call, transfer) ─► the record is closed, and for phone
    calls the room is deleted, which hangs up the phone leg — unless a warm transfer left
    caller and colleague talking in it.
    then, off the live path (worker's on_session_end ─► `end_of_session`): the recording, the
    summary and outcome, the call.ended webhook (after_call.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, CloseEvent, JobContext, room_io, vad

from . import providers
from .after_call import AfterCall
from .analysis.outcome import TRANSFER_EVENTS
from .assistant import PhoneAssistant
from .call_state import CallerInfo, CallState
from .config import Settings
from .data import Repository, open_repository
from .data.services import ToolServices
from .observability import metrics
from .observability.calls import CallRecorder
from .observability.record_sink import RecordSink
from .observability.redaction import redact
from .phones import caller_key, mask_phone
from .recording.capture import CallRecording
from .recording.consent import DECLINED_SENTENCE, RecordingConsent
from .recording.store import open_store
from .recovery import TRANSCRIPT_TIMEOUT_S, CallRecovery, PrerenderedVoice
from .speech_text import speech_text_transform
from .telephony import outbound, warm_transfer
from .telephony.caller import caller_from_participant
from .telephony.cold_transfer import TransferOutcome, make_transfer_tool
from .telephony.keypad import (
    KEYPAD_DECLINE_RECORDING,
    KEYPAD_ENTRY_NOTE,
    KeypadInput,
    dtmf_digit,
    keypad_handover,
)
from .tools import attach_tool_audit
from .webhooks.events import CALL_STARTED, CALL_TRANSFERRED, Webhooks

logger = logging.getLogger("phone-agent.call")

# How long a browser participant can't interrupt the first agent speech while its echo
# canceller adapts. Phone callers get none: PSTN has no client-side AEC warm-up, and a caller
# who can't cut in during the first seconds notices.
BROWSER_AEC_WARMUP_S = 1.0


# How long a call waits for the database at its start before it goes on without it.
DATABASE_OPEN_TIMEOUT_S = 5.0


@dataclass
class ProcessResources:
    """What a job process loads once (prewarm) and every call in it shares."""

    settings: Settings
    vad: vad.VAD
    turn_choice: providers.TurnDetectorChoice
    services: ToolServices | None = None
    # Which providers are down, shared with the worker's other call processes (failover.py).
    health: providers.ProviderHealth = field(init=False)

    def __post_init__(self) -> None:
        self.health = providers.ProviderHealth(
            Path(self.settings.failover_state_dir) / "provider-health.json")

    async def tool_services(self) -> ToolServices | None:
        """One repository per process, opened on the first call and reused; None while the
        database cannot be opened (the call goes on without it, and this is tried again)."""
        if self.services is None:
            try:
                repo = await asyncio.wait_for(
                    open_repository(self.settings.database_url,
                                    timezone=self.settings.business_timezone),
                    DATABASE_OPEN_TIMEOUT_S)
            except Exception as exc:  # unreachable, refused, migrations failed, timed out
                logger.warning("database unavailable", extra={"error": str(exc)[:300]})
                return None
            self.services = ToolServices(repo=repo)
        return self.services

    async def repository(self) -> Repository | None:
        services = await self.tool_services()
        return services.repo if services is not None else None


def parse_metadata(raw: str) -> dict[str, Any]:
    """The dispatch metadata as a JSON object; anything else counts as none."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("dispatch metadata is not JSON; ignored")
        return {}
    return data if isinstance(data, dict) else {}


MAX_TOOL_STEPS = 4


def build_session(resources: ProcessResources, state: CallState,
                  chains: providers.CallProviders) -> AgentSession[CallState]:
    settings = resources.settings
    return AgentSession[CallState](
        vad=resources.vad,
        stt=chains.stt.plugin,
        llm=chains.llm.plugin,
        tts=chains.tts.plugin,
        turn_handling=providers.turn_handling(settings, resources.turn_choice),
        userdata=state,
        tts_text_transforms=["filter_markdown", "filter_emoji", speech_text_transform],
        aec_warmup_duration=None if state.caller.is_phone else BROWSER_AEC_WARMUP_S,
        user_away_timeout=15.0,
        max_tool_steps=MAX_TOOL_STEPS,
        conn_options=chains.session_conn_options(),
        # speech the VAD heard without a transcript: agent/recovery/hearing.py
        transcription_timeout=TRANSCRIPT_TIMEOUT_S,
    )


class Call:
    """The pieces of one call, wired together; `run_call` builds and starts it."""

    def __init__(self, ctx: JobContext, resources: ProcessResources, state: CallState,
                 request: outbound.OutboundRequest | None) -> None:
        self.ctx = ctx
        self.settings = resources.settings
        self.state = state
        self.request = request
        self.providers = providers.CallProviders(self.settings, vad=resources.vad,
                                                 health=resources.health)
        self.session = build_session(resources, state, self.providers)
        attach_tool_audit(self.session)
        services = state.services
        sink = RecordSink(services.repo if services is not None else None,
                          reopen=resources.repository, on_reopened=self.records_back)
        self.record = CallRecorder(
            state, self.session, sink,
            caller_key=caller_key(state.caller.phone_number, self.settings.caller_key_secret))
        # The database may be down at the start and back later (`records_back`): these read
        # the call's repository when they write, not now.
        self.webhooks = Webhooks(self.repo_now, self.settings.webhook_urls, state.call_uid)
        consent = RecordingConsent(self.settings.recording)
        self.recording = CallRecording(consent, self.session, call_uid=state.call_uid,
                                       repo=self.repo_now, store=lambda: open_store(self.settings),
                                       on_event=self.record.event)
        self.after_call = AfterCall(state, self.settings, self.repo_now, self.record,
                                    self.recording, self.webhooks,
                                    lambda: providers.build_summary_llm(self.settings))
        self.plan = self.settings.transfer_plan
        self.recovery = CallRecovery(
            self.session, state, providers=self.providers,
            voice=PrerenderedVoice.load(self.settings), plan=self.plan, repo=self.repo_now,
            on_event=self.on_event, on_transfer=self.record_transfer,
            max_tool_steps=MAX_TOOL_STEPS)
        self.providers.connect(self.on_event, self.recovery.on_provider_change)
        # Set when a warm transfer leaves caller and colleague in the room: keep it.
        self.handed_off = False
        # Transfers and the keypad need a phone leg. A browser caller isn't offered them: the
        # prompt (prompts.instructions) turns "talk to a person" into a callback offer.
        call_tools = [
            make_transfer_tool(self.plan, on_outcome=self.record_transfer),
            *warm_transfer.tools_for(self.settings, self.on_event, self.leave),
        ] if state.caller.is_phone else []
        if consent.mode == "consent":
            call_tools.append(self.recording.stop_tool())
        if request is not None:
            self.agent: PhoneAssistant = outbound.OutboundAssistant(
                purpose=request.purpose, state=state, call_tools=call_tools, recording=consent)
        else:
            self.agent = PhoneAssistant(state=state, call_tools=call_tools, recording=consent)
        self.keypad = KeypadInput(
            state, on_human=self.keypad_human, on_entry=self.keypad_entry,
            on_decline_recording=self.keypad_decline if consent.mode == "consent" else None)

    # --- events --------------------------------------------------------------------------

    def on_event(self, kind: str, detail: str) -> None:
        """A call event for the record; a completed transfer is also a webhook."""
        self.record.event(kind, detail)
        if kind in TRANSFER_EVENTS:
            self.webhooks.spawn(CALL_TRANSFERRED, {"kind": kind, "detail": redact(detail)[:500]})

    def record_transfer(self, outcome: TransferOutcome) -> None:
        kind = "transfer" if outcome.ok else "transfer_failed"
        self.on_event(kind, f"{outcome.destination or '-'}: {outcome.detail}")

    def keypad_decline(self) -> None:
        if self.recording.decline("keypad"):
            self.session.say(DECLINED_SENTENCE, allow_interruptions=True)

    async def keypad_human(self) -> None:
        outcome = await keypad_handover(self.session, self.state, self.plan)
        metrics.record_keypad_handover(outcome.ok)
        self.record_transfer(outcome)

    async def keypad_entry(self) -> None:
        # The digits stay in CallState.dtmf_buffer, where verify_identity reads them: they
        # never enter the transcript or the model's context.
        self.session.generate_reply(user_input=KEYPAD_ENTRY_NOTE)

    def repo_now(self) -> Repository | None:
        """The call's repository, or None while the database is unavailable."""
        return self.state.services.repo if self.state.services is not None else None

    def records_back(self, repo: Repository) -> None:
        """The database answered again mid-call: the tools can use it from now on."""
        if self.state.services is None:
            self.state.services = ToolServices(repo=repo)
        self.state.records_unavailable = False

    def on_dtmf(self, ev: rtc.SipDTMF) -> None:
        if ev.participant is None or ev.participant.identity != self.state.caller.identity:
            return
        digit = dtmf_digit(ev.code, ev.digit)
        if self.recovery.take_digit(digit):  # the callback offer waits for "1"
            return
        if self.state.caller.is_phone:
            self.keypad.handle(digit)
        elif digit == KEYPAD_DECLINE_RECORDING:
            # A browser has no keypad for transfers or PINs, but a client that sends DTMF may
            # still decline a recording with "*": any way to say no counts.
            self.keypad_decline()

    def on_participant_left(self, p: rtc.RemoteParticipant) -> None:
        if p.identity == self.state.caller.identity:
            self.state.caller_left()

    def on_session_close(self, _: CloseEvent) -> None:
        # Deleting the room hangs up the phone leg; a browser caller's room empties by itself
        # (end_call deletes it, which tells the page the assistant ended the call).
        if self.state.caller.is_phone and not self.handed_off:
            self.ctx.delete_room().add_done_callback(_log_delete_failure)

    def leave(self) -> None:
        """End the agent's part without deleting the room (caller and colleague stay)."""
        self.handed_off = True
        self.session.shutdown(drain=True)
        self.ctx.shutdown(reason="warm transfer completed")

    # --- the run -------------------------------------------------------------------------

    async def start(self) -> None:
        room = self.ctx.room
        self.record.attach()
        self.recording.attach()
        self.recovery.attach(room)
        _CALLS[self.ctx.job.id] = self  # for `end_of_session`
        self.webhooks.spawn(CALL_STARTED, {"call": {
            "call_uid": self.state.call_uid, "channel": self.state.caller.kind,
            "direction": self.state.caller.direction,
            "caller_masked": mask_phone(self.state.caller.phone_number),
            "recording": self.settings.recording}})
        self.ctx.add_shutdown_callback(self.record.flush)
        self.ctx.add_shutdown_callback(self.recovery.aclose)
        room.on("sip_dtmf_received", self.on_dtmf)
        room.on("participant_disconnected", self.on_participant_left)
        self.session.on("close", self.on_session_close)
        await self.session.start(
            agent=self.agent,
            room=room,
            room_options=room_io.RoomOptions(
                participant_identity=self.state.caller.identity,
                audio_input=room_io.AudioInputOptions(
                    sample_rate=providers.AUDIO_INPUT_SAMPLE_RATE),
                close_on_disconnect=True,
                delete_room_on_close=False,  # on_session_close decides
            ),
            # No audio at rest unless a recording feature says so: the framework would
            # otherwise write both sides of every call to audio.ogg (left behind if the job
            # process dies). False when RECORDING=off; announced, and consented, otherwise.
            record=self.recording.record_option,
        )
        if self.request is not None:
            assert isinstance(self.agent, outbound.OutboundAssistant)
            await outbound.connect(lk=self.ctx.api, room=room, session=self.session,
                                   state=self.state, agent=self.agent, request=self.request,
                                   settings=self.settings, on_event=self.on_event)


# The call each job process is serving, by job id, until its session has ended.
_CALLS: dict[str, Call] = {}


async def end_of_session(ctx: JobContext) -> None:
    """The worker's `on_session_end`: the after-call work, once the session has closed."""
    call = _CALLS.pop(ctx.job.id, None)
    if call is not None:
        await call.after_call.run()


def _log_delete_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.warning("could not delete the room at the end of the call: %s", fut.exception())


async def run_call(ctx: JobContext, resources: ProcessResources) -> None:
    """Serve the job's room: find out who is calling, then run the call."""
    # The bridge names a caller's room after their number: every log line carries it masked.
    ctx.log_context_fields = {"room": redact(ctx.room.name)}
    await ctx.connect()
    metadata = parse_metadata(ctx.job.metadata)
    request = outbound.OutboundRequest.from_metadata(metadata)
    if request is not None:  # a call the agent places (python -m agent.telephony.outbound)
        caller = CallerInfo(identity=request.identity, kind="sip",
                            phone_number=request.phone_number, direction="outbound")
        state = CallState(room_name=ctx.room.name, caller=caller, dispatch_metadata=metadata,
                          call_uid=request.call_uid)
    else:
        participant = await ctx.wait_for_participant()
        caller = caller_from_participant(participant)
        state = CallState(room_name=ctx.room.name, caller=caller, dispatch_metadata=metadata)
    # Without the database the call still goes on: the caller is greeted, told what can't be
    # done right now and offered a colleague; the record is written once it is back.
    state.services = await resources.tool_services()
    state.records_unavailable = state.services is None
    logger.info("call started", extra={"caller_kind": caller.kind,
                                       "direction": caller.direction,
                                       "records": state.services is not None})
    await Call(ctx, resources, state, request).start()



