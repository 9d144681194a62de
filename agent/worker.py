"""The LiveKit worker: process prewarm, dispatch by name, and routing each job to a call.

A call flows: SIP bridge (or browser) joins a room → LiveKit dispatches this worker by
`AGENT_NAME` → `entrypoint` hands the job to `agent.call.run_call`, the one call lifecycle
for inbound, outbound and browser calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from livekit.agents import AgentServer, JobContext, JobProcess

from . import providers
from .call import ProcessResources, run_call
from .config import Settings, load_settings
from .observability.redaction import install_log_redaction
from .recovery import render_in_background

logger = logging.getLogger("phone-agent.worker")

_RESOURCES = "resources"  # key in JobProcess.userdata


def prewarm(proc: JobProcess) -> None:
    """Runs once per job process, before any call: load settings and models."""
    settings = load_settings()
    install_log_redaction(settings.secrets())
    choice = providers.choose_turn_detector(settings.turn_detector)
    if choice.kind == "audio":
        from livekit.local_inference import init_eot

        init_eot()  # load the v1-mini weights now, not on the first call
    proc.userdata[_RESOURCES] = ProcessResources(settings=settings, vad=providers.load_vad(),
                                                 turn_choice=choice)
    render_in_background(settings)  # the fallback lines in the primary voice, once per host
    logger.info("turn detection: %s (%s)", choice.kind, choice.reason)


async def entrypoint(ctx: JobContext) -> None:
    resources = ctx.proc.userdata.get(_RESOURCES)
    if not isinstance(resources, ProcessResources):  # prewarm didn't run (console mode)
        prewarm(ctx.proc)
        resources = ctx.proc.userdata[_RESOURCES]
    await run_call(ctx, resources)


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
        port=int(os.environ.get("AGENT_HEALTH_PORT", "8081")),  # a second worker on one host
        # Loading silero + the v1-mini weights takes a few seconds on a busy 2-core machine.
        initialize_process_timeout=60.0,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        log_level=settings.log_level.upper(),
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server
