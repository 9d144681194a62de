"""Typed repository over the business database (SQLite or PostgreSQL, same SQL).

Every account query that tools use takes the customer id and filters on it in SQL, so a caller
can never read or change another customer's orders or bookings, whatever ids the model passes.

`Repository` is the one public facade; each concern lives in its own store module:
`customers` (customers, PINs, orders), `appointments` (slots, bookings), `support` (tickets,
SMS outbox, callbacks), `call_log` (call records), `audit` (audit log, idempotency keys),
`lockouts` (failed identity checks) and `outbound_rules` (do-not-call list, call attempts).
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
)
from .sql import Dialect, utc_now
from .support import SupportStore


class Repository(CustomerStore, AppointmentStore, SupportStore, CallLog, AuditLog, LockoutStore,
                 OutboundRuleStore):
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
    "check_pin",
    "hash_pin",
    "utc_now",
]
