"""Removing calls completely: recording file first, then the rows (purge.py and forget.py).

A recording that can't be deleted (the store is unreachable, the URI belongs to a store that
is no longer configured) keeps its call's rows, so the next run tries again; the failure is
reported, never skipped silently. A recording that is already gone counts as deleted.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ..config import ConfigError, Settings, load_settings
from ..recording.store import RecordingStore
from .privacy import CallToErase, Erased
from .repository import Repository


@dataclass
class ErasureReport:
    title: str = "removed"
    erased: Erased = field(default_factory=Erased)
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        e = self.erased
        out = [f"{self.title}: {e.calls} calls, {e.transcript_lines} transcript lines, "
               f"{e.events} call events, {e.summaries} summaries, {e.recordings} recordings, "
               f"{e.webhook_deliveries} webhook deliveries, {e.idempotency_keys} idempotency "
               f"keys, {e.audit_rows} audit rows"]
        out += [f"NOT removed: {f}" for f in self.failures]
        return out


async def erase_calls(repo: Repository, store: Callable[[], RecordingStore],
                      calls: Sequence[CallToErase], report: ErasureReport) -> set[str]:
    """Erase `calls` (the store is opened only if one has a recording); returns the uids of
    those that could not be erased (why is in `report.failures`)."""
    done: list[CallToErase] = []
    deleted = 0
    opened: RecordingStore | None = None
    for call in calls:
        if call.recording_uri:
            try:
                opened = opened or store()
                deleted += 1 if await opened.delete(call.recording_uri) else 0
            except Exception as exc:
                report.failures.append(f"call {call.call_uid}: recording {call.recording_uri} "
                                       f"could not be deleted ({type(exc).__name__}: {exc})")
                continue
        done.append(call)
    report.erased.add(await repo.erase_calls(done, recordings_deleted=deleted))
    return {c.call_uid for c in calls} - {c.call_uid for c in done}


def run_command(work: Callable[[Repository, Settings], Awaitable[ErasureReport]]) -> int:
    """The purge and forget commands around `work`: settings, database, the printed report.
    Exit codes: 0 done, 1 something could not be removed, 2 bad settings or input
    (`work` raises ValueError)."""
    try:
        settings = load_settings()
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2

    async def run() -> ErasureReport:
        repo = await Repository.open(settings.database_url)
        try:
            return await work(repo, settings)
        finally:
            await repo.close()

    try:
        report = asyncio.run(run())
    except ValueError as e:
        print(f"nothing removed: {e}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 1 if report.failures else 0
