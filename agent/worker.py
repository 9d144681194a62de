"""The LiveKit worker: process prewarm, dispatch by name, and routing each job to a call.

A call flows: SIP bridge (or browser) joins a room → LiveKit dispatches this worker by
`AGENT_NAME` → `entrypoint` hands the job to `agent.call.run_call`, the one call lifecycle
for inbound, outbound and browser calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from livekit.agents import AgentServer, JobContext, JobProcess

from . import providers
from .call import ProcessResources, end_of_session, run_call
from .config import Settings, load_settings
from .metrics_dir import ENV as METRICS_DIR_ENV
from .observability import metrics, tracing
from .observability.redaction import install_log_redaction
from .recovery import render_in_background
from .tools import BUSINESS_TOOLS
from .webhooks.delivery import run_delivery

logger = logging.getLogger("phone-agent.worker")

_RESOURCES = "resources"  # key in JobProcess.userdata
_TELEMETRY = "telemetry"  # the OpenTelemetry providers of this process, when exporting


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
    proc.userdata[_TELEMETRY] = tracing.configure(settings)  # None unless OTLP is configured
    metrics.initialize(tools=[t.info.name for t in BUSINESS_TOOLS])
    render_in_background(settings)  # the fallback lines in the primary voice, once per host
    logger.info("turn detection: %s (%s)", choice.kind, choice.reason)


async def entrypoint(ctx: JobContext) -> None:
    resources = ctx.proc.userdata.get(_RESOURCES)
    if not isinstance(resources, ProcessResources):  # prewarm didn't run (console mode)
        prewarm(ctx.proc)
        resources = ctx.proc.userdata[_RESOURCES]
    exported = ctx.proc.userdata.get(_TELEMETRY)
    if isinstance(exported, tracing.Telemetry):
        ctx.add_shutdown_callback(exported.flush)  # the job's spans leave before it exits
    await run_call(ctx, resources)


def call_load(max_calls: int, agent_name: str = "phone-agent"
              ) -> Callable[[AgentServer], float]:
    """The worker's load as livekit-server sees it: active calls / MAX_CONCURRENT_CALLS.

    The default is machine-wide CPU, and the server stops routing jobs to a worker whose
    reported load nears 1.0. On a shared host, CPU used by anything else would then make
    calls ring out unanswered; counting calls makes capacity a deliberate number, sized from
    the per-call cost measured by `python -m bench.cost`.

    It runs in the main process every half second, so it also sets the active-calls and
    capacity gauges: the jobs this process supervises are the calls, crashed ones included.
    """

    def load(server: AgentServer) -> float:
        active = len(server.active_jobs)
        metrics.record_load(agent_name, active, max_calls)
        return min(1.0, active / max_calls)

    return load


def build_server(settings: Settings, *, serve_metrics: bool = False) -> AgentServer:
    """The worker. With `serve_metrics` (the CLI has prepared PROMETHEUS_MULTIPROC_DIR, see
    agent/metrics_dir.py) it serves /metrics on METRICS_PORT, summed over all its processes."""
    server = AgentServer(
        setup_fnc=prewarm,
        num_idle_processes=settings.num_idle_processes,
        # Capacity is counted in calls, not machine CPU (see `call_load`): full at the limit.
        load_fnc=call_load(settings.max_concurrent_calls, settings.agent_name),
        load_threshold=1.0,
        host=os.environ.get("AGENT_HEALTH_HOST", "127.0.0.1"),
        # 8081 as the framework has it; 0 = any free port (a second worker on one host)
        port=int(os.environ.get("AGENT_HEALTH_PORT") or 8081),
        # Loading silero + the v1-mini weights takes a few seconds on a busy 2-core machine.
        initialize_process_timeout=60.0,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        log_level=settings.log_level.upper(),
        prometheus_port=settings.metrics_port if serve_metrics else None,
        prometheus_multiproc_dir=os.environ.get(METRICS_DIR_ENV) if serve_metrics else None,
    )
    # The after-call work (recording, summary, call.ended) runs in on_session_end: the caller
    # is gone, and the framework gives it session_end_timeout (300 s) even at shutdown.
    server.rtc_session(entrypoint, agent_name=settings.agent_name, on_session_end=end_of_session)
    if settings.webhook_urls:
        server.on("worker_started", lambda: _start_delivery(settings))
    return server


# The webhook delivery loop of this (main) process; a reference keeps the task alive.
_DELIVERY: set[asyncio.Task[None]] = set()


def _start_delivery(settings: Settings) -> None:
    """Webhooks are sent from the worker's main process, never from a call's process."""
    task = asyncio.get_running_loop().create_task(run_delivery(settings), name="webhooks")
    _DELIVERY.add(task)
    task.add_done_callback(_DELIVERY.discard)
