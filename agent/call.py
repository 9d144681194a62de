"""One call, from dispatch to hang-up: the single path inbound SIP, outbound SIP and browser
calls all follow.

    worker.entrypoint ─► run_call(ctx, resources)
        who is on the line ── an outbound dispatch (metadata) or the participant who joined
        CallState ─► AgentSession (providers.py) ─► call record (observability/calls.py)
        tools: business tools + cold/warm transfer + end_call (assistant.py, telephony/)
        keypad (telephony/keypad.py) and hang-up detection on the room
        session.start(...) ─► outbound calls then dial (telephony/outbound.py)
    the session closes (caller gone, end_call, transfer) ─► the record is closed, and for phone
    calls the room is deleted, which hangs up the phone leg — unless a warm transfer left
    caller and colleague talking in it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, CloseEvent, JobContext, room_io, vad

from . import providers
from .assistant import PhoneAssistant
from .call_state import CallerInfo, CallState
from .config import Settings
from .data import Repository, open_repository
from .data.services import ToolServices
from .observability.calls import CallRecorder
from .observability.record_sink import RecordSink
from .speech_text import speech_text_transform
from .telephony import outbound, warm_transfer
from .telephony.caller import caller_from_participant
from .telephony.cold_transfer import TransferOutcome, make_transfer_tool
from .telephony.keypad import KEYPAD_ENTRY_NOTE, KeypadInput, dtmf_digit, keypad_handover
from .tools import attach_tool_audit

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


def build_session(resources: ProcessResources, state: CallState) -> AgentSession[CallState]:
    settings = resources.settings
    return AgentSession[CallState](
        vad=resources.vad,
        stt=providers.build_stt(settings),
        llm=providers.build_llm(settings),
        tts=providers.build_tts(settings),
        turn_handling=providers.turn_handling(settings, resources.turn_choice),
        userdata=state,
        tts_text_transforms=["filter_markdown", "filter_emoji", speech_text_transform],
        aec_warmup_duration=None if state.caller.is_phone else BROWSER_AEC_WARMUP_S,
        user_away_timeout=15.0,
        max_tool_steps=4,
        conn_options=providers.session_conn_options(),
    )


class Call:
    """The pieces of one call, wired together; `run_call` builds and starts it."""

    def __init__(self, ctx: JobContext, resources: ProcessResources, state: CallState,
                 request: outbound.OutboundRequest | None) -> None:
        self.ctx = ctx
        self.settings = resources.settings
        self.state = state
        self.request = request
        self.session = build_session(resources, state)
        attach_tool_audit(self.session)
        services = state.services
        sink = RecordSink(services.repo if services is not None else None,
                          reopen=resources.repository, on_reopened=self.records_back)
        self.record = CallRecorder(state, self.session, sink)
        self.plan = self.settings.transfer_plan
        # Set when a warm transfer leaves caller and colleague in the room: keep it.
        self.handed_off = False
        call_tools = [
            make_transfer_tool(self.plan, on_outcome=self.record_transfer),
            *warm_transfer.tools_for(self.settings, self.record.event, self.leave),
        ]
        if request is not None:
            self.agent: PhoneAssistant = outbound.OutboundAssistant(
                purpose=request.purpose, state=state, call_tools=call_tools)
        else:
            self.agent = PhoneAssistant(state=state, call_tools=call_tools)
        self.keypad = KeypadInput(state, on_human=self.keypad_human, on_entry=self.keypad_entry)

    # --- events --------------------------------------------------------------------------

    def record_transfer(self, outcome: TransferOutcome) -> None:
        kind = "transfer" if outcome.ok else "transfer_failed"
        self.record.event(kind, f"{outcome.destination or '-'}: {outcome.detail}")

    async def keypad_human(self) -> None:
        self.record_transfer(await keypad_handover(self.session, self.state, self.plan))

    async def keypad_entry(self) -> None:
        # The digits stay in CallState.dtmf_buffer, where verify_identity reads them: they
        # never enter the transcript or the model's context.
        self.session.generate_reply(user_input=KEYPAD_ENTRY_NOTE)

    def records_back(self, repo: Repository) -> None:
        """The database answered again mid-call: the tools can use it from now on."""
        if self.state.services is None:
            self.state.services = ToolServices(repo=repo)
        self.state.records_unavailable = False

    def on_dtmf(self, ev: rtc.SipDTMF) -> None:
        if ev.participant is not None and ev.participant.identity == self.state.caller.identity:
            self.keypad.handle(dtmf_digit(ev.code, ev.digit))

    def on_participant_left(self, p: rtc.RemoteParticipant) -> None:
        if p.identity == self.state.caller.identity:
            self.state.caller_left()

    def on_session_close(self, _: CloseEvent) -> None:
        # Deleting the room hangs up the phone leg; a browser caller just leaves the room.
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
        self.ctx.add_shutdown_callback(self.record.flush)
        room.on("sip_dtmf_received", self.on_dtmf)
        room.on("participant_disconnected", self.on_participant_left)
        self.session.on("close", self.on_session_close)
        await self.session.start(
            agent=self.agent,
            room=room,
            # No audio at rest: the framework would otherwise write both sides of the call to
            # audio.ogg (left behind if the job process dies). Recording needs consent.
            record=False,
            room_options=room_io.RoomOptions(
                participant_identity=self.state.caller.identity,
                audio_input=room_io.AudioInputOptions(
                    sample_rate=providers.AUDIO_INPUT_SAMPLE_RATE),
                close_on_disconnect=True,
                delete_room_on_close=False,  # on_session_close decides
            ),
        )
        if self.request is not None:
            assert isinstance(self.agent, outbound.OutboundAssistant)
            await outbound.connect(lk=self.ctx.api, room=room, session=self.session,
                                   state=self.state, agent=self.agent, request=self.request,
                                   settings=self.settings, on_event=self.record.event)


def _log_delete_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.warning("could not delete the room at the end of the call: %s", fut.exception())


async def run_call(ctx: JobContext, resources: ProcessResources) -> None:
    """Serve the job's room: find out who is calling, then run the call."""
    ctx.log_context_fields = {"room": ctx.room.name}
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



