"""Typed repository over the business database (SQLite or PostgreSQL, same SQL).

Every account query that tools use takes the customer id and filters on it in SQL, so a caller
can never read or change another customer's orders or bookings, whatever ids the model passes.

`Repository` is the one public facade; each concern lives in its own store module:
`customers` (customers, PINs, orders), `appointments` (slots, bookings), `support` (tickets,
SMS outbox, callbacks), `call_log` (call records), `audit` (audit log, idempotency keys),
`webhook_outbox` (webhook deliveries), `privacy` (retention and erasure), `lockouts` (failed
identity checks) and `outbound_rules` (do-not-call list, call attempts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Self
from zoneinfo import ZoneInfo

from .appointments import AppointmentStore
from .audit import AuditLog
from .call_log import CallLog
from .customers import CustomerStore, check_pin, hash_pin
from .db import Database
from .lockouts import LockoutStore
from .outbound_rules import OutboundRuleStore
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
                 Privacy, LockoutStore, OutboundRuleStore):
    """Async, typed access to the business tables. Construct with `await Repository.open(url)`."""

    @classmethod
    async def open(cls, url: str, *, clock: Callable[[], datetime] | None = None,
                   timezone: ZoneInfo | None = None) -> Self:
        """`timezone`: the business's (BUSINESS_TIMEZONE); its wall clock decides which
        slots are past. `clock` replaces that clock altogether (tests)."""
        return cls(await Database.open(url), clock=clock, timezone=timezone)

    async def close(self) -> None:
        await self.db.close()

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect


# What a call's after-hang-up parts are given: the repository, or a way to ask for it when
# they write (None while the database is unavailable; agent/call.py).
RepoSource = Repository | Callable[[], Repository | None]


def current_repo(source: RepoSource) -> Repository | None:
    return source if isinstance(source, Repository) else source()


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
    "RepoSource",
    "Repository",
    "Slot",
    "SlotUnavailable",
    "Ticket",
    "WebhookDelivery",
    "check_pin",
    "current_repo",
    "hash_pin",
    "utc_now",
]
