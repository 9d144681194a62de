"""Business data: a repository over SQLite (default) or PostgreSQL, with the same SQL.

    repo = await open_repository(settings.database_url)   # creates + migrates the database
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from .db import Database, DatabaseError, DatabaseUnavailable, IntegrityError
from .repository import (
    AuditEntry,
    Booking,
    CallbackRequest,
    CallEvent,
    CallRecord,
    Customer,
    IdempotencyClaim,
    IdempotencyState,
    NotFound,
    Order,
    OutboxMessage,
    Repository,
    Slot,
    SlotUnavailable,
    Ticket,
)
from .sms import SmsProvider, relay_outbox


async def open_repository(url: str, *, timezone: ZoneInfo | None = None) -> Repository:
    """Open (and migrate) the database at `url`: `sqlite:///path` or `postgresql://...`;
    `timezone` is the business's (see `Repository.open`)."""
    return await Repository.open(url, timezone=timezone)


__all__ = [
    "AuditEntry",
    "Booking",
    "CallEvent",
    "CallRecord",
    "CallbackRequest",
    "Customer",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "IdempotencyClaim",
    "IdempotencyState",
    "IntegrityError",
    "NotFound",
    "Order",
    "OutboxMessage",
    "Repository",
    "Slot",
    "SlotUnavailable",
    "SmsProvider",
    "Ticket",
    "open_repository",
    "relay_outbox",
]
