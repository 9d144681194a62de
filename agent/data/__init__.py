"""Business data: a repository over SQLite (default) or PostgreSQL, with the same SQL.

    repo = await open_repository(settings.database_url)   # creates + migrates the database
"""

from __future__ import annotations

from .db import Database, DatabaseError, IntegrityError
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
from .sms import OutboxSender, SmsReceipt, SmsSender


async def open_repository(url: str) -> Repository:
    """Open (and migrate) the database at `url`: `sqlite:///path` or `postgresql://...`."""
    return await Repository.open(url)


__all__ = [
    "AuditEntry",
    "Booking",
    "CallEvent",
    "CallRecord",
    "CallbackRequest",
    "Customer",
    "Database",
    "DatabaseError",
    "IdempotencyClaim",
    "IdempotencyState",
    "IntegrityError",
    "NotFound",
    "Order",
    "OutboxMessage",
    "OutboxSender",
    "Repository",
    "Slot",
    "SlotUnavailable",
    "SmsReceipt",
    "SmsSender",
    "Ticket",
    "open_repository",
]
