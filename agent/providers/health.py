"""Which providers are down, shared by every call the worker serves.

livekit-agents 1.8.9 runs each job (call) in its own process, which exits when the call ends
(`ipc/job_proc_lazy_main.py`: the job task's done callback sets the exit flag), so anything a
call learns in memory is gone for the next call. A small JSON file, written atomically under an
exclusive lock, carries "the primary LLM failed at 12:03:07" from one call's process to the
next call's: the next call starts on the backup and lets the fallback adapter check the primary
in the background (failover.py). The mark is cleared when any call's background check finds
the provider healthy again.

Keys name a provider without secrets (`llm:deepseek-v4-flash@api.deepseek.com`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger("phone-agent.providers.health")


class ProviderHealth:
    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock

    def down_since(self, key: str) -> float | None:
        """When `key` was marked down (epoch seconds), or None if it is not."""
        entry = self._read().get(key)
        return float(entry["since"]) if isinstance(entry, dict) and "since" in entry else None

    def mark_down(self, key: str, reason: str) -> None:
        with self._update() as marks:
            if key not in marks:
                marks[key] = {"since": self._clock(), "reason": reason[:200]}

    def mark_up(self, key: str) -> None:
        with self._update() as marks:
            marks.pop(key, None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:  # a torn or foreign file must not stop a call
            logger.warning("provider health file unreadable, treating as empty: %s", e)
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock; the new content replaces the file
        atomically, so a reader never sees half of it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{self.path}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                marks = self._read()
                yield marks
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".health-")
                with os.fdopen(fd, "w") as f:
                    json.dump(marks, f)
                os.replace(tmp, self.path)
        except OSError as e:  # a read-only disk: failover still works within the call
            logger.warning("could not update the provider health file: %s", e)
