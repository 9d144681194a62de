"""The directory where every worker process leaves its Prometheus samples.

prometheus_client picks multiprocess mode once, when it is first imported, from
`PROMETHEUS_MULTIPROC_DIR`; livekit.agents imports it. `prepare()` therefore runs in the CLI
before anything imports livekit (agent/cli.py), and every process the worker starts (the
forkserver and the job processes it forks) inherits the variable. The endpoint in the main
process then sums the files of all of them (`livekit.agents.telemetry.http_server`).

Kept free of prometheus_client and livekit imports on purpose, and outside
`agent.observability`, whose package imports livekit.agents.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_base() -> Path:
    return Path(tempfile.gettempdir()) / f"phone-agent-metrics-{os.getuid()}"


def prepare(env: MutableMapping[str, str] | None = None, *, base: Path | None = None,
            pid: int | None = None) -> Path:
    """Create and empty the samples directory and export it in `env` (default os.environ).

    An operator's `PROMETHEUS_MULTIPROC_DIR` is used as given. Otherwise each worker gets
    `<tmp>/phone-agent-metrics-<uid>/<pid>`, so two workers on one host never share (or
    empty) each other's samples; it is removed when the worker exits, and directories of
    workers that are gone (killed) are removed here.
    Emptying matters: a previous run's counters would otherwise be counted again.
    """
    env = os.environ if env is None else env
    configured = env.get(ENV)
    if configured:
        path = Path(configured)
    else:
        root = base or default_base()
        root.mkdir(parents=True, exist_ok=True)
        for old in root.iterdir():
            if old.is_dir() and old.name.isdigit() and not _alive(int(old.name)):
                shutil.rmtree(old, ignore_errors=True)
        path = root / str(pid or os.getpid())
        if pid is None:  # ours alone: gone with the worker (a killed one: at the next start)
            atexit.register(shutil.rmtree, path, True)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_file():
            entry.unlink()
    env[ENV] = str(path)
    return path
