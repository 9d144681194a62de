"""Where the call record's writes go: the repository, or a queue while the database is down.

A call whose database could not be opened at the start still gets its record. `RecordSink`
keeps each write (already redacted) in order, tries to open the database again every
`retry_every` seconds while the call runs, and writes everything once it is back; whatever
is still unwritten when the call ends (`flush`) goes to the log, one line per record, so the
call is never lost without a trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..data.repository import Repository

logger = logging.getLogger("phone-agent.calls")

Write = Callable[[Repository], Awaitable[None]]
Reopen = Callable[[], Awaitable[Repository | None]]


@dataclass(frozen=True)
class _Pending:
    write: Write
    describe: str  # what the log says if it never reaches the database (redacted)


class RecordSink:
    """Writes the call record through the repository, holding them while it is unavailable.

    `repo` is the open repository, or None when the database was down at call start; then
    `reopen` is tried every `retry_every` seconds and `on_reopened` is told the repository
    once it answers (the call's tools use it from then on)."""

    def __init__(self, repo: Repository | None, *, reopen: Reopen | None = None,
                 on_reopened: Callable[[Repository], None] | None = None,
                 retry_every: float = 5.0) -> None:
        self._repo = repo
        self._reopen = reopen
        self._on_reopened = on_reopened
        self._retry_every = retry_every
        self._queue: list[_Pending] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._retrying: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self._repo is not None

    def write(self, write: Write, describe: str) -> None:
        """Write now if the database is there; otherwise queue (and keep trying to reopen)."""
        if self._repo is not None:
            self._spawn(write(self._repo))
            return
        self._queue.append(_Pending(write, describe))
        if self._reopen is not None and self._retrying is None:
            self._retrying = asyncio.ensure_future(self._retry())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def _try_reopen(self) -> bool:
        if self._reopen is None:
            return False
        try:
            repo = await self._reopen()
        except Exception as exc:  # a reopen that fails is the same as "not yet"
            logger.debug("database still unavailable: %s", exc)
            return False
        if repo is None:
            return False
        self._repo = repo
        if self._on_reopened is not None:
            self._on_reopened(repo)
        logger.info("database is back; writing the %d held call record entries",
                    len(self._queue))
        queued, self._queue = self._queue, []
        for pending in queued:  # in order: the call row before its events
            try:
                await pending.write(repo)
            except Exception:
                logger.exception("call record write failed: %s", pending.describe)
        return True

    async def _retry(self) -> None:
        while self._repo is None:
            await asyncio.sleep(self._retry_every)
            if await self._try_reopen():
                return

    async def flush(self) -> None:
        """Wait for every write; log what could not reach the database (call end)."""
        if self._retrying is not None:
            if self._repo is not None:
                await self._retrying  # it is writing what it held: let it finish
            else:
                self._retrying.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._retrying
            self._retrying = None
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._queue and not await self._try_reopen():
            for pending in self._queue:
                logger.warning("call record kept in the log (database unavailable): %s",
                               pending.describe)
            self._queue.clear()


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("call record write failed: %s", task.exception())
