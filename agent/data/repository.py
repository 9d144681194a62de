"""Typed repository over the business database (SQLite or PostgreSQL, same SQL).

Every account query that tools use takes the customer id and filters on it in SQL, so a caller
can never read or change another customer's orders or bookings, whatever ids the model passes.

`Repository` is the one public facade; each concern lives in its own store module:
`customers` (customers, PINs, orders), `appointments` (slots, bookings), `support` (tickets,
SMS outbox, callbacks), `call_log` (call records), `audit` (audit log, idempotency keys),
`webhook_outbox` (webhook deliveries) and `privacy` (retention and erasure).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Self

from .appointments import AppointmentStore
from .audit import AuditLog
from .call_log import CallLog
from .customers import CustomerStore, check_pin, hash_pin
from .db import Database
from .privacy import Privacy
from .records import (
    SLOT_FORMAT,
    AuditEntry,
    Booking,
    CallbackRequest,
    CallEvent,
    CallRecord,
    Customer,
    IdempotencyClaim,
    IdempotencyState,
    IdempotencyStatus,
    NotFound,
    Order,
    OutboxMessage,
    Slot,
    SlotUnavailable,
    Ticket,
    WebhookDelivery,
)
from .sql import Dialect, utc_now
from .support import SupportStore
from .webhook_outbox import WebhookOutbox


class Repository(CustomerStore, AppointmentStore, SupportStore, CallLog, AuditLog, WebhookOutbox,
                 Privacy):
    """Async, typed access to the business tables. Construct with `await Repository.open(url)`."""

    @classmethod
    async def open(cls, url: str, *, clock: Callable[[], datetime] | None = None) -> Self:
        return cls(await Database.open(url), clock=clock)

    async def close(self) -> None:
        await self.db.close()

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect


__all__ = [
    "SLOT_FORMAT",
    "AuditEntry",
    "Booking",
    "CallEvent",
    "CallRecord",
    "CallbackRequest",
    "Customer",
    "IdempotencyClaim",
    "IdempotencyState",
    "IdempotencyStatus",
    "NotFound",
    "Order",
    "OutboxMessage",
    "Repository",
    "Slot",
    "SlotUnavailable",
    "Ticket",
    "WebhookDelivery",
    "check_pin",
    "hash_pin",
    "utc_now",
]
