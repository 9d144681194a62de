"""Retention: delete what is older than the configured periods, in small batches.

    python -m agent.data.purge [--days N] [--audit-days N] [--batch-size 200]

Calls that started more than RETENTION_DAYS ago are removed whole: transcript, events,
summary and outcome, recording file, webhook deliveries, idempotency keys, and the call row.
Tool audit rows older than AUDIT_RETENTION_DAYS go too. 0 keeps that kind of data forever.

Safe while calls are in progress: a call is only removed once it has ended (or its worker is
a day gone), and each batch is its own short transaction, with a pause between batches, so
live calls' writes are never held up for long. Run it from cron, e.g. nightly. Exit code 1
when something could not be removed (it is named, and the next run retries it).
"""

from __future__ import annotations

import argparse
import asyncio

from ..config import Settings
from ..recording.store import open_store
from .erase import ErasureReport, erase_calls, run_command
from .repository import Repository

BATCH_PAUSE_S = 0.05


async def purge(repo: Repository, settings: Settings, *, days: int, audit_days: int,
                batch_size: int = 200) -> ErasureReport:
    kept = (f"calls older than {days} days" if days else "calls kept forever") + ", " + \
        (f"audit rows older than {audit_days} days" if audit_days else "audit kept forever")
    report = ErasureReport(f"purged ({kept})")
    if days > 0:
        stuck: set[str] = set()  # calls whose recording would not delete: skipped this run
        while True:
            calls = [c for c in await repo.calls_older_than(days, limit=batch_size + len(stuck))
                     if c.call_uid not in stuck]
            if not calls:
                break
            stuck |= await erase_calls(repo, lambda: open_store(settings), calls, report)
            await asyncio.sleep(BATCH_PAUSE_S)
    if audit_days > 0:
        while n := await repo.purge_audit(audit_days, limit=batch_size):
            report.erased.audit_rows += n
            await asyncio.sleep(BATCH_PAUSE_S)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.data.purge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, help="override RETENTION_DAYS")
    parser.add_argument("--audit-days", type=int, help="override AUDIT_RETENTION_DAYS")
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args(argv)

    async def work(repo: Repository, settings: Settings) -> ErasureReport:
        days = settings.retention_days if args.days is None else args.days
        audit = settings.audit_retention_days if args.audit_days is None else args.audit_days
        if days < 0 or audit < 0 or args.batch_size < 1:
            raise ValueError("--days and --audit-days must be 0 or more, --batch-size 1 or more")
        return await purge(repo, settings, days=days, audit_days=audit,
                           batch_size=args.batch_size)

    return run_command(work)


if __name__ == "__main__":
    raise SystemExit(main())
