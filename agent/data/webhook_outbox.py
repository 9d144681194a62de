"""The durable outbox of webhook deliveries: one row per (event, URL).

Events are written here in the same database as the call record, so a delivery survives a
worker restart; `agent/webhooks/delivery.py` leases due rows, POSTs them and records the
result. A lease (`lease_until`) keeps two workers from sending the same row at the same time;
delivery is still at-least-once (a worker can die after the receiver said yes), which is why
every payload carries its event id as an idempotency key.

Timestamps in this table carry milliseconds (`stamp`) so sub-second backoffs compare
correctly as text; they are never compared with the seconds-resolution columns elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from .records import WebhookDelivery, from_row
from .sql import SqlValue, Tx, utc_now
from .store import Store


def stamp(at: datetime | None = None, *, after_s: float = 0.0) -> str:
    """`at` (default now) plus `after_s`, as the table's millisecond ISO-8601 UTC text."""
    moment = (at or datetime.now(UTC)) + timedelta(seconds=after_s)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class WebhookOutbox(Store):
    async def enqueue_webhook(self, *, event_id: str, event_type: str, call_uid: str | None,
                              urls: Sequence[str], payload: str) -> int:
        """Queue `payload` for every URL; returns the rows added (0 for a repeated event)."""

        def work(tx: Tx) -> int:
            added = 0
            for url in urls:
                added += tx.execute(
                    "INSERT INTO webhook_outbox (event_id, event_type, call_uid, url, payload,"
                    " status, attempts, next_attempt_at, created_at)"
                    " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
                    " ON CONFLICT (event_id, url) DO NOTHING",
                    (event_id, event_type, call_uid, url, payload, stamp(), utc_now()))
            return added

        return await self.db.transaction(work)

    async def due_webhooks(self, *, limit: int = 50) -> list[WebhookDelivery]:
        """Pending rows whose next attempt is due and that nobody holds a lease on."""
        now = stamp()
        rows = await self.db.fetchall(
            "SELECT * FROM webhook_outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT ?",
            (now, now, limit))
        return [from_row(WebhookDelivery, r) for r in rows]

    async def lease_webhook(self, delivery_id: int, *, for_s: float) -> bool:
        """Take the row for one attempt (counted now); False if another worker has it."""
        now = stamp()
        n = await self.db.execute(
            "UPDATE webhook_outbox SET lease_until = ?, attempts = attempts + 1"
            " WHERE id = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until <= ?)",
            (stamp(after_s=for_s), delivery_id, now))
        return n == 1

    async def webhook_delivered(self, delivery_id: int) -> None:
        await self.db.execute(
            "UPDATE webhook_outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL,"
            " last_error = NULL WHERE id = ?", (stamp(), delivery_id))

    async def webhook_attempt_failed(self, delivery_id: int, *, error: str,
                                     retry_after_s: float | None) -> None:
        """Record a failed attempt: retry after `retry_after_s`, or give up (None)."""
        if retry_after_s is None:
            sql = ("UPDATE webhook_outbox SET status = 'failed', lease_until = NULL,"
                   " last_error = ? WHERE id = ?")
            params: tuple[SqlValue, ...] = (error[:500], delivery_id)
        else:
            sql = ("UPDATE webhook_outbox SET next_attempt_at = ?, lease_until = NULL,"
                   " last_error = ? WHERE id = ?")
            params = (stamp(after_s=retry_after_s), error[:500], delivery_id)
        await self.db.execute(sql, params)

    async def webhooks(self, *, call_uid: str | None = None,
                       status: str | None = None) -> list[WebhookDelivery]:
        wanted: dict[str, SqlValue] = {"call_uid": call_uid, "status": status}
        given = {column: value for column, value in wanted.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in given) or "1 = 1"
        rows = await self.db.fetchall(f"SELECT * FROM webhook_outbox WHERE {where} ORDER BY id",
                                      list(given.values()))
        return [from_row(WebhookDelivery, r) for r in rows]
