"""The local stack for `bench.latency` and `bench.demo`: Redis, livekit-server, the provider
emulators (in this process, so scripts and profiles can be set) and one agent worker.

Runs only inside the private network namespace (`scripts/in-netns`); every service binds
loopback or the namespace's own veth.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack import services as svc
from devstack.caller import TestCaller, caller_token
from emulators import LatencyProfile, ProviderEmulators
from emulators.llm_script import Script


@dataclass
class BenchStack:
    emulators: ProviderEmulators
    worker_env: dict[str, str]
    agent_name: str
    key: str
    secret: str
    logs: Path
    worker: svc.Service

    def caller(self, room: str, identity: str = "caller", metadata: str = "") -> TestCaller:
        token = caller_token(self.key, self.secret, room, identity, self.agent_name, metadata)
        return TestCaller(svc.LIVEKIT_URL, token)


def require_netns(prog: str) -> None:
    if not svc.in_private_netns():
        sys.exit(f"{prog}: run inside the private network namespace: "
                 f"scripts/in-netns python -m {prog} ...")


@contextlib.contextmanager
def local_stack(*, agent_name: str, script: Script, profile: LatencyProfile,
                phrases: list[str], turn_detector: str, database_url: str | None = None,
                quiet: bool = False,
                extra_env: Callable[[ProviderEmulators], dict[str, str]] | None = None
                ) -> Iterator[BenchStack]:
    logs = Path(tempfile.mkdtemp(prefix=f"{agent_name}-logs-"))
    os.environ["PHONE_AGENT_LOGS"] = str(logs)  # service logs of this run only
    emulators = ProviderEmulators(script=script, profile=profile, stt_phrases=phrases,
                                  port=svc.EMULATOR_PORT)
    emulators.start_in_thread()
    key, secret = svc.livekit_keys()
    env = {
        **emulators.env(),
        "AGENT_NAME": agent_name,
        "TURN_DETECTOR": turn_detector,
        "DATABASE_URL": database_url or f"sqlite:///{logs / 'calls.db'}",
        "LOG_LEVEL": "info",
        "NUM_IDLE_PROCESSES": "1",
        **(extra_env(emulators) if extra_env else {}),  # e.g. the backups (bench.faults)
    }
    stack = svc.Stack()
    try:
        stack.up(svc.redis(), quiet=quiet)
        stack.up(svc.livekit_server(), quiet=quiet)
        worker = stack.up(svc.worker("start", env=env), quiet=quiet)
        yield BenchStack(emulators, env, agent_name, key, secret, logs, worker)
        wait_for_calls_to_close()
    finally:
        stack.down()
        emulators.stop_thread()


def wait_for_calls_to_close(within: float = 20.0) -> None:
    """Until the worker runs no call (its /metrics says so): stopping the stack sooner kills
    the job processes before they write the end of their call records."""
    url = f"http://127.0.0.1:{svc.WORKER_METRICS_PORT}/metrics"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return  # no metrics endpoint (METRICS_PORT=0): nothing to wait on
        active = [line for line in text.splitlines()
                  if line.startswith("phone_agent_active_calls{")]
        if active and all(float(line.rsplit(" ", 1)[1]) == 0 for line in active):
            return
        time.sleep(0.5)
