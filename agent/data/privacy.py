"""Retention and erasure in the database: finding calls to remove, removing them in short
transactions, anonymizing audit rows.

A "call" here is everything the product keeps about it: the `calls` row (summary, outcome,
recording link), its `call_events` (transcript and events), its webhook deliveries and its
idempotency keys. Recording files live outside the database; the commands
(`python -m agent.data.purge`, `python -m agent.data.forget`) delete the file first and the
rows only after that succeeded, so a failed deletion can be retried.

Calls still in progress are never touched: only calls with `ended_at` set, or started more than
a day ago (a call whose worker died never gets an `ended_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .sql import SqlValue, Tx
from .store import Store

# Longer than any call: a call started this long ago without `ended_at` lost its worker.
STALE_CALL = timedelta(days=1)

# Audit rows keep what the tool did and when; who and what for is removed.
ANONYMIZED_ARGUMENTS = '{"erased": true}'


@dataclass(frozen=True)
class CallToErase:
    call_uid: str
    room: str
    sip_call_id: str | None
    recording_uri: str | None


@dataclass
class Erased:
    """What a purge or erasure removed (the commands print it)."""

    calls: int = 0
    transcript_lines: int = 0
    events: int = 0
    summaries: int = 0
    recordings: int = 0
    webhook_deliveries: int = 0
    idempotency_keys: int = 0
    audit_rows: int = 0

    def add(self, other: Erased) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def cutoff(days: int, now: datetime | None = None) -> str:
    """The `started_at`-comparable text of "`days` days ago"."""
    return ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="seconds")


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _to_erase(rows: list[dict[str, object]]) -> list[CallToErase]:
    return [CallToErase(str(r["call_uid"]), str(r["room"]),
                        None if r["sip_call_id"] is None else str(r["sip_call_id"]),
                        None if r["recording_uri"] is None else str(r["recording_uri"]))
            for r in rows]


class Privacy(Store):
    async def calls_older_than(self, days: int, *, limit: int) -> list[CallToErase]:
        """Finished calls that started more than `days` days ago, oldest first."""
        now = datetime.now(UTC)
        rows = await self.db.fetchall(
            "SELECT call_uid, room, sip_call_id, recording_uri FROM calls"
            " WHERE started_at < ? AND (ended_at IS NOT NULL OR started_at < ?)"
            " ORDER BY started_at LIMIT ?",
            (cutoff(days, now), (now - STALE_CALL).isoformat(timespec="seconds"), limit))
        return _to_erase(rows)

    async def calls_of(self, *, caller_key: str | None,
                       customer_id: int | None) -> list[CallToErase]:
        """Every call of one caller: by the keyed hash of their number, and by the account
        (bookings, tickets, callbacks and audit rows that name the call)."""
        clauses: list[str] = []
        params: list[SqlValue] = []
        if caller_key is not None:
            clauses.append("caller_key = ?")
            params.append(caller_key)
        if customer_id is not None:
            for table in ("bookings", "support_tickets", "callback_requests"):
                clauses.append(f"call_uid IN (SELECT call_id FROM {table} WHERE customer_id = ?)")
                params.append(customer_id)
            # audit rows name a call by its SIP call id, its room or its uid (tools/audit.py)
            for column in ("call_uid", "room", "sip_call_id"):
                clauses.append(f"{column} IN (SELECT call_id FROM audit_log"
                               " WHERE customer_id = ?)")
                params.append(customer_id)
        if not clauses:
            return []
        rows = await self.db.fetchall(
            "SELECT call_uid, room, sip_call_id, recording_uri FROM calls WHERE "
            + " OR ".join(clauses) + " ORDER BY started_at", params)
        return _to_erase(rows)

    async def erase_calls(self, calls: Sequence[CallToErase], *,
                          recordings_deleted: int = 0) -> Erased:
        """Delete the rows of `calls` (their recording files are already gone), atomically."""
        if not calls:
            return Erased()
        uids = [c.call_uid for c in calls]

        def work(tx: Tx) -> Erased:
            marks = _marks(uids)
            counted = tx.fetchone(
                "SELECT"
                " SUM(CASE WHEN kind = 'transcript' THEN 1 ELSE 0 END) AS lines,"
                " SUM(CASE WHEN kind = 'transcript' THEN 0 ELSE 1 END) AS events"
                f" FROM call_events WHERE call_uid IN ({marks})", uids) or {}
            summaries = tx.fetchone(
                f"SELECT COUNT(*) AS n FROM calls WHERE call_uid IN ({marks})"
                " AND (summary IS NOT NULL OR outcome IS NOT NULL)", uids) or {}
            out = Erased(transcript_lines=int(counted.get("lines") or 0),
                         events=int(counted.get("events") or 0),
                         summaries=int(summaries.get("n") or 0),
                         recordings=recordings_deleted)
            tx.execute(f"DELETE FROM call_events WHERE call_uid IN ({marks})", uids)
            out.webhook_deliveries = tx.execute(
                f"DELETE FROM webhook_outbox WHERE call_uid IN ({marks})", uids)
            out.idempotency_keys = tx.execute(
                f"DELETE FROM idempotency_keys WHERE call_id IN ({marks})", uids)
            # the number an outbound call dialled, kept for the daily limit (issue 9)
            tx.execute(f"DELETE FROM outbound_attempts WHERE call_uid IN ({marks})", uids)
            out.calls = tx.execute(f"DELETE FROM calls WHERE call_uid IN ({marks})", uids)
            return out

        return await self.db.transaction(work)

    async def anonymize_audit(self, *, customer_id: int | None,
                              calls: Sequence[CallToErase]) -> int:
        """Strip caller, account, arguments and result from the caller's audit rows (the tool,
        outcome, time and latency stay for the statistics); returns the rows changed."""
        ids = {x for c in calls for x in (c.call_uid, c.room, c.sip_call_id) if x}
        names: list[SqlValue] = [*sorted(ids)]
        clauses: list[str] = []
        params: list[SqlValue] = []
        if customer_id is not None:
            clauses.append("customer_id = ?")
            params.append(customer_id)
        if names:
            clauses.append(f"call_id IN ({_marks(names)})")
            params.extend(names)
        if not clauses:
            return 0
        return await self.db.execute(
            "UPDATE audit_log SET caller = NULL, customer_id = NULL, call_id = NULL,"
            " arguments = ?, result = NULL WHERE (" + " OR ".join(clauses) + ")"
            " AND arguments <> ?", [ANONYMIZED_ARGUMENTS, *params, ANONYMIZED_ARGUMENTS])

    async def purge_audit(self, days: int, *, limit: int) -> int:
        """Delete up to `limit` audit rows older than `days` days; returns how many."""

        def work(tx: Tx) -> int:
            rows = tx.fetchall("SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?",
                               (cutoff(days), limit))
            ids = [int(r["id"]) for r in rows]
            if not ids:
                return 0
            return tx.execute(f"DELETE FROM audit_log WHERE id IN ({_marks(ids)})", ids)

        return await self.db.transaction(work)
