"""The LiveKit worker: process prewarm, dispatch by name, and one phone session per room.

A call flows: SIP bridge (or browser) joins a room → LiveKit dispatches this worker by
`AGENT_NAME` → `entrypoint` reads who is calling → an `AgentSession` runs VAD + turn detector
+ Deepgram → DeepSeek (+ tools) → ElevenLabs until the caller hangs up or the agent ends it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents import (
    AgentServer,
    AgentSession,
    JobContext,
    JobProcess,
    room_io,
)

from . import providers, warm_transfer
from .assistant import PhoneAssistant
from .call_state import CallState
from .config import Settings, load_settings
from .observability import calls as call_records
from .observability.redaction import install_log_redaction
from .speech_text import speech_text_transform
from .telephony import (
    KeypadInput,
    TransferPlan,
    caller_from_participant,
    dtmf_digit,
    keypad_handover,
)
from .tools import ToolServices, attach_tool_audit

logger = logging.getLogger("phone-agent.worker")

# How long a browser participant can't interrupt the first agent speech while its echo
# canceller adapts. Phone callers get none: PSTN has no client-side AEC warm-up, and a caller
# who can't cut in during the first seconds notices.
BROWSER_AEC_WARMUP_S = 1.0


def prewarm(proc: JobProcess) -> None:
    """Runs once per job process, before any call: load settings and models."""
    settings = load_settings()
    install_log_redaction(settings.secrets())
    proc.userdata["settings"] = settings
    proc.userdata["vad"] = providers.load_vad()
    choice = providers.choose_turn_detector(settings.turn_detector)
    proc.userdata["turn_choice"] = choice
    if choice.kind == "audio":
        from livekit.local_inference import init_eot

        init_eot()  # load the v1-mini weights now, not on the first call
    logger.info("turn detection: %s (%s)", choice.kind, choice.reason)


async def _services(proc: JobProcess, settings: Settings) -> ToolServices:
    """One repository per process, opened on the first call and reused."""
    services = proc.userdata.get("services")
    if services is None:
        from .data import open_repository

        services = ToolServices(repo=await open_repository(settings.database_url))
        proc.userdata["services"] = services
    return services


def build_session(settings: Settings, proc_userdata: dict[str, Any], state: CallState
                  ) -> AgentSession[CallState]:
    choice = proc_userdata.get("turn_choice") or providers.choose_turn_detector(
        settings.turn_detector)
    return AgentSession[CallState](
        vad=proc_userdata.get("vad") or providers.load_vad(),
        stt=providers.build_stt(settings),
        llm=providers.build_llm(settings),
        tts=providers.build_tts(settings),
        turn_handling=providers.turn_handling(settings, choice),
        userdata=state,
        tts_text_transforms=["filter_markdown", "filter_emoji", speech_text_transform],
        aec_warmup_duration=None if state.caller.is_phone else BROWSER_AEC_WARMUP_S,
        user_away_timeout=15.0,
        max_tool_steps=4,
        conn_options=providers.session_conn_options(),
    )


async def entrypoint(ctx: JobContext) -> None:
    settings: Settings = ctx.proc.userdata.get("settings") or load_settings()
    ctx.log_context_fields = {"room": ctx.room.name}
    await ctx.connect()
    metadata = _metadata(ctx.job.metadata)
    if metadata.get("phone_number"):
        # An outbound call (`python -m agent.outbound`): the agent dials, see agent/outbound.py.
        from .outbound import place_call

        await place_call(ctx, settings, metadata)
        return
    participant = await ctx.wait_for_participant()
    caller = caller_from_participant(participant)
    state = CallState(room_name=ctx.room.name, caller=caller,
                      dispatch_metadata=metadata)
    state.services = await _services(ctx.proc, settings)
    logger.info("call started", extra={"caller_kind": caller.kind,
                                       "direction": caller.direction})

    session = build_session(settings, ctx.proc.userdata, state)
    attach_tool_audit(session)
    record = call_records.CallRecorder(state, session, state.services.repo)
    record.attach()
    ctx.add_shutdown_callback(record.flush)

    plan = TransferPlan.parse(settings.transfer_destinations, settings.transfer_fallback)
    assistant = PhoneAssistant(state=state, transfer_plan=plan,
                               extra_tools=warm_transfer.tools_for(settings, record))

    async def ask_for_human() -> None:
        outcome = await keypad_handover(session, state, plan)
        call_records.log_transfer(record, outcome)

    async def keypad_entry(digits: str) -> None:
        session.generate_reply(user_input=f"(typed on the keypad: {' '.join(digits)})")

    keypad = KeypadInput(state, on_human=ask_for_human, on_entry=keypad_entry)

    @ctx.room.on("sip_dtmf_received")
    def _on_dtmf(ev: rtc.SipDTMF) -> None:
        if ev.participant is not None and ev.participant.identity == caller.identity:
            keypad.handle(dtmf_digit(ev.code, ev.digit))

    @ctx.room.on("participant_disconnected")
    def _on_left(p: rtc.RemoteParticipant) -> None:
        if p.identity == caller.identity:
            state.caller_left()

    await session.start(
        agent=assistant,
        room=ctx.room,
        room_options=room_io.RoomOptions(
            participant_identity=participant.identity,
            audio_input=room_io.AudioInputOptions(
                sample_rate=providers.AUDIO_INPUT_SAMPLE_RATE),
            close_on_disconnect=True,
            # Deleting the room hangs up the phone leg when the session ends.
            delete_room_on_close=caller.is_phone,
        ),
    )


def _metadata(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("dispatch metadata is not JSON; ignored")
        return {}
    return data if isinstance(data, dict) else {}


def call_load(max_calls: int) -> Callable[[AgentServer], float]:
    """The worker's load as livekit-server sees it: active calls / MAX_CONCURRENT_CALLS.

    The default is machine-wide CPU, and the server stops routing jobs to a worker whose
    reported load nears 1.0. On a shared host, CPU used by anything else would then make
    calls ring out unanswered; counting calls makes capacity a deliberate number, sized from
    the per-call cost measured by `python -m bench.cost`.
    """

    def load(server: AgentServer) -> float:
        return min(1.0, len(server.active_jobs) / max_calls)

    return load


def build_server(settings: Settings) -> AgentServer:
    server = AgentServer(
        setup_fnc=prewarm,
        num_idle_processes=settings.num_idle_processes,
        # Capacity is counted in calls, not machine CPU (see `call_load`): full at the limit.
        load_fnc=call_load(settings.max_concurrent_calls),
        load_threshold=1.0,
        host=os.environ.get("AGENT_HEALTH_HOST", "127.0.0.1"),
        # Loading silero + the v1-mini weights takes a few seconds on a busy 2-core machine.
        initialize_process_timeout=60.0,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        log_level=settings.log_level.upper(),
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server
