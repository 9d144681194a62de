"""The typed records the repository returns, and the errors it raises.

Business rows are frozen dataclasses; the call record and its events are TypedDicts because
their readers (the outbound CLI, `make call`, the SIP tests) index them like the dicts they
used to be. Idempotency answers are NamedTuples: they unpack and compare like plain tuples.
"""

from __future__ import annotations

import json
from dataclasses import Field, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, TypedDict, TypeVar

from .sql import Row

SLOT_FORMAT = "%Y-%m-%d %H:%M"


class NotFound(LookupError):
    """The row does not exist, or does not belong to the customer asking."""


class SlotUnavailable(Exception):
    """The slot is already booked (or in the past); the UNIQUE index has the final word."""


# -- business rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    id: int
    full_name: str
    phone_e164: str
    email: str | None
    date_of_birth: str  # YYYY-MM-DD
    pin_hash: str | None

    @property
    def first_name(self) -> str:
        return self.full_name.split()[0] if self.full_name else ""


@dataclass(frozen=True)
class Order:
    id: int
    order_number: str
    customer_id: int
    status: str
    item_summary: str
    total_cents: int
    placed_at: str
    expected_delivery: str | None
    carrier: str | None
    tracking_number: str | None
    updated_at: str


@dataclass(frozen=True)
class Slot:
    id: int
    starts_at: str  # local "YYYY-MM-DD HH:MM"
    duration_min: int
    service: str
    location: str

    @property
    def start(self) -> datetime:
        return datetime.strptime(self.starts_at, SLOT_FORMAT)


@dataclass(frozen=True)
class Booking:
    id: int
    slot_id: int
    customer_id: int
    status: str
    created_at: str
    cancelled_at: str | None
    rescheduled_from: int | None
    slot: Slot


@dataclass(frozen=True)
class Ticket:
    id: int
    customer_id: int | None
    order_id: int | None
    subject: str
    description: str
    priority: str
    status: str
    created_at: str


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    customer_id: int | None
    channel: str
    recipient: str
    body: str
    status: str
    idempotency_key: str
    created_at: str


@dataclass(frozen=True)
class CallbackRequest:
    id: int
    customer_id: int | None
    phone_e164: str
    preferred_time: str | None
    reason: str | None
    status: str
    created_at: str


@dataclass(frozen=True)
class AuditEntry:
    call_id: str | None
    caller: str | None
    customer_id: int | None
    tool: str
    arguments: str
    outcome: str
    result: str | None
    latency_ms: int
    at: str = ""
    id: int | None = None


# -- idempotency keys ----------------------------------------------------------------------------

IdempotencyStatus = Literal["in_progress", "done"]


class IdempotencyClaim(NamedTuple):
    """`claimed` is True only for the first caller; later ones get the stored result (or
    status `in_progress` while the first one is still running)."""

    claimed: bool
    result: str | None
    status: IdempotencyStatus


class IdempotencyState(NamedTuple):
    status: IdempotencyStatus
    result: str | None


# -- call records --------------------------------------------------------------------------------


class CallRecord(TypedDict):
    """One row of `calls`: who called (masked) and how the call ended."""

    call_uid: str
    room: str
    channel: str
    direction: str
    caller_masked: str | None
    sip_call_id: str | None
    started_at: str
    ended_at: str | None
    ended_by: str | None
    end_reason: str | None
    duration_s: float | None
    # after the call (migration 4): consent, the stored recording, the summary and outcome
    recording_consent: str | None
    recording_status: str | None
    recording_uri: str | None
    recording_duration_s: float | None
    recording_sha256: str | None
    recording_error: str | None
    outcome_status: str | None
    summary: str | None
    outcome: dict[str, Any] | None


class CallEvent(TypedDict):
    """One row of `call_events`: a transcript line (`kind` "transcript") or an event."""

    id: int
    call_uid: str
    at: str
    kind: str
    role: str | None
    text: str | None
    detail: str | None


def call_record(row: Row) -> CallRecord:
    return CallRecord(
        call_uid=row["call_uid"], room=row["room"], channel=row["channel"],
        direction=row["direction"], caller_masked=row["caller_masked"],
        sip_call_id=row["sip_call_id"], started_at=row["started_at"], ended_at=row["ended_at"],
        ended_by=row["ended_by"], end_reason=row["end_reason"], duration_s=row["duration_s"],
        recording_consent=row["recording_consent"], recording_status=row["recording_status"],
        recording_uri=row["recording_uri"], recording_duration_s=row["recording_duration_s"],
        recording_sha256=row["recording_sha256"], recording_error=row["recording_error"],
        outcome_status=row["outcome_status"], summary=row["summary"],
        outcome=json.loads(row["outcome"]) if row["outcome"] else None,
    )


def call_event(row: Row) -> CallEvent:
    return CallEvent(
        id=row["id"], call_uid=row["call_uid"], at=row["at"], kind=row["kind"],
        role=row["role"], text=row["text"], detail=row["detail"],
    )


@dataclass(frozen=True)
class WebhookDelivery:
    """One row of `webhook_outbox`: an event on its way to one URL."""

    id: int
    event_id: str
    event_type: str
    call_uid: str | None
    url: str
    payload: str  # the exact JSON body that is signed and sent
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    delivered_at: str | None


# -- row → dataclass -----------------------------------------------------------------------------


class _Dataclass(Protocol):
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


R = TypeVar("R", bound=_Dataclass)


def from_row(cls: type[R], row: Row) -> R:
    """Build the dataclass `cls` from the columns of `row` that it has fields for."""
    return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})
