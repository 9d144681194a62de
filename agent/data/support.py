"""Support tickets, the SMS outbox (exactly once per idempotency key) and callback requests."""

from __future__ import annotations

from .records import CallbackRequest, OutboxMessage, Ticket, from_row
from .sql import Tx, utc_now
from .store import Store


class SupportStore(Store):
    # -- tickets -----------------------------------------------------------------------------

    # Each change exists twice: `..._in(tx, ...)` inside a transaction the caller runs (the
    # confirmation gate records its idempotency key in the same one), and the async method in
    # a transaction of its own.

    def create_ticket_in(self, tx: Tx, *, customer_id: int | None, subject: str,
                         description: str, priority: str = "normal",
                         order_id: int | None = None, call_id: str | None = None) -> Ticket:
        row = tx.fetchone(
            "INSERT INTO support_tickets (customer_id, order_id, subject, description, priority,"
            " status, created_at, call_id) VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING *",
            (customer_id, order_id, subject, description, priority, utc_now(), call_id),
        )
        assert row is not None
        return from_row(Ticket, row)

    async def create_ticket(self, *, customer_id: int | None, subject: str, description: str,
                            priority: str = "normal", order_id: int | None = None,
                            call_id: str | None = None) -> Ticket:
        return await self.db.transaction(lambda tx: self.create_ticket_in(
            tx, customer_id=customer_id, subject=subject, description=description,
            priority=priority, order_id=order_id, call_id=call_id))

    async def tickets_for_customer(self, customer_id: int) -> list[Ticket]:
        rows = await self.db.fetchall(
            "SELECT * FROM support_tickets WHERE customer_id = ? ORDER BY id", (customer_id,))
        return [from_row(Ticket, r) for r in rows]

    # -- SMS outbox --------------------------------------------------------------------------

    def enqueue_sms_in(self, tx: Tx, *, recipient: str, body: str, idempotency_key: str,
                       customer_id: int | None = None) -> tuple[OutboxMessage, bool]:
        """Queue an SMS exactly once per `idempotency_key`; returns (message, newly_created)."""
        n = tx.execute(
            "INSERT INTO outbox (customer_id, channel, recipient, body, status,"
            " idempotency_key, created_at) VALUES (?, 'sms', ?, ?, 'pending', ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (customer_id, recipient, body, idempotency_key, utc_now()),
        )
        row = tx.fetchone("SELECT * FROM outbox WHERE idempotency_key = ?", (idempotency_key,))
        assert row is not None
        return from_row(OutboxMessage, row), n == 1

    async def enqueue_sms(self, *, recipient: str, body: str, idempotency_key: str,
                          customer_id: int | None = None) -> tuple[OutboxMessage, bool]:
        return await self.db.transaction(lambda tx: self.enqueue_sms_in(
            tx, recipient=recipient, body=body, idempotency_key=idempotency_key,
            customer_id=customer_id))

    async def outbox(self, *, status: str | None = None) -> list[OutboxMessage]:
        if status:
            rows = await self.db.fetchall("SELECT * FROM outbox WHERE status = ? ORDER BY id",
                                          (status,))
        else:
            rows = await self.db.fetchall("SELECT * FROM outbox ORDER BY id")
        return [from_row(OutboxMessage, r) for r in rows]

    async def mark_outbox_sent(self, message_id: int, provider_message_id: str | None) -> None:
        await self.db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, provider_message_id = ?,"
            " attempts = attempts + 1 WHERE id = ?",
            (utc_now(), provider_message_id, message_id),
        )

    # -- callback requests -------------------------------------------------------------------

    def create_callback_in(self, tx: Tx, *, phone_e164: str, customer_id: int | None = None,
                           preferred_time: str | None = None, reason: str | None = None,
                           call_id: str | None = None) -> CallbackRequest:
        row = tx.fetchone(
            "INSERT INTO callback_requests (customer_id, phone_e164, preferred_time, reason,"
            " status, created_at, call_id) VALUES (?, ?, ?, ?, 'open', ?, ?) RETURNING *",
            (customer_id, phone_e164, preferred_time, reason, utc_now(), call_id),
        )
        assert row is not None
        return from_row(CallbackRequest, row)

    async def create_callback(self, *, phone_e164: str, customer_id: int | None = None,
                              preferred_time: str | None = None, reason: str | None = None,
                              call_id: str | None = None) -> CallbackRequest:
        return await self.db.transaction(lambda tx: self.create_callback_in(
            tx, phone_e164=phone_e164, customer_id=customer_id, preferred_time=preferred_time,
            reason=reason, call_id=call_id))

    async def count_callbacks(self, *, call_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM callback_requests WHERE call_id = ?", (call_id,))
        return int(row["n"]) if row else 0

    async def callbacks(self) -> list[CallbackRequest]:
        rows = await self.db.fetchall("SELECT * FROM callback_requests ORDER BY id")
        return [from_row(CallbackRequest, r) for r in rows]
