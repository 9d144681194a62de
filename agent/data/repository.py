"""Typed repository over the business database (SQLite or PostgreSQL, same SQL).

Every account query that tools use takes the customer id and filters on it in SQL, so a caller
can never read or change another customer's orders or bookings, whatever ids the model passes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .db import Database, IntegrityError, Tx

SLOT_FORMAT = "%Y-%m-%d %H:%M"
_PIN_ITERATIONS = 60_000


class NotFound(LookupError):
    """The row does not exist, or does not belong to the customer asking."""


class SlotUnavailable(Exception):
    """The slot is already booked (or in the past); the UNIQUE index has the final word."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- PINs ----------------------------------------------------------------------------------------


def hash_pin(pin: str, *, salt: str | None = None, iterations: int = _PIN_ITERATIONS) -> str:
    """PBKDF2-SHA256 hash, stored as `pbkdf2_sha256$iterations$salt$hexdigest`."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def check_pin(pin: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        algo, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(candidate, digest)


# -- rows ----------------------------------------------------------------------------------------


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


def _row(cls: type, row: dict[str, Any]) -> Any:
    names = cls.__dataclass_fields__.keys()
    return cls(**{k: row[k] for k in names if k in row})


_BOOKING_SELECT = (
    "SELECT b.id, b.slot_id, b.customer_id, b.status, b.created_at, b.cancelled_at,"
    " b.rescheduled_from, s.starts_at, s.duration_min, s.service, s.location"
    " FROM bookings b JOIN appointment_slots s ON s.id = b.slot_id"
)


def _booking(row: dict[str, Any]) -> Booking:
    slot = Slot(id=row["slot_id"], starts_at=row["starts_at"], duration_min=row["duration_min"],
                service=row["service"], location=row["location"])
    return Booking(id=row["id"], slot_id=row["slot_id"], customer_id=row["customer_id"],
                   status=row["status"], created_at=row["created_at"],
                   cancelled_at=row["cancelled_at"], rescheduled_from=row["rescheduled_from"],
                   slot=slot)


class Repository:
    """Async, typed access to the business tables. Construct with `await Repository.open(url)`."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        # Local wall-clock "now" of the business, used to hide past slots. Injectable for tests.
        self.clock: Callable[[], datetime] = clock or datetime.now

    @classmethod
    async def open(cls, url: str, *, clock: Callable[[], datetime] | None = None) -> Repository:
        return cls(await Database.open(url), clock=clock)

    async def close(self) -> None:
        await self.db.close()

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def _now_slot(self) -> str:
        return self.clock().strftime(SLOT_FORMAT)

    # -- customers ---------------------------------------------------------------------------

    async def customer_by_phone(self, phone_e164: str) -> Customer | None:
        row = await self.db.fetchone("SELECT * FROM customers WHERE phone_e164 = ?", (phone_e164,))
        return _row(Customer, row) if row else None

    async def customer_by_id(self, customer_id: int) -> Customer | None:
        row = await self.db.fetchone("SELECT * FROM customers WHERE id = ?", (customer_id,))
        return _row(Customer, row) if row else None

    async def upsert_customer(self, *, full_name: str, phone_e164: str, date_of_birth: str,
                              email: str | None = None, pin: str | None = None) -> Customer:
        """Insert a customer, or return the existing one with that phone number (idempotent)."""
        pin_hash = hash_pin(pin) if pin else None

        def work(tx: Tx) -> dict[str, Any]:
            tx.execute(
                "INSERT INTO customers (full_name, phone_e164, email, date_of_birth, pin_hash,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (phone_e164) DO NOTHING",
                (full_name, phone_e164, email, date_of_birth, pin_hash, utc_now()),
            )
            row = tx.fetchone("SELECT * FROM customers WHERE phone_e164 = ?", (phone_e164,))
            assert row is not None
            return row

        return _row(Customer, await self.db.transaction(work))

    # -- orders (always scoped to a customer) -------------------------------------------------

    async def order_for_customer(self, customer_id: int, order_number: str) -> Order | None:
        row = await self.db.fetchone(
            "SELECT * FROM orders WHERE order_number = ? AND customer_id = ?",
            (order_number, customer_id),
        )
        return _row(Order, row) if row else None

    async def orders_for_customer(self, customer_id: int, *, limit: int = 5) -> list[Order]:
        rows = await self.db.fetchall(
            "SELECT * FROM orders WHERE customer_id = ? ORDER BY placed_at DESC, id DESC LIMIT ?",
            (customer_id, limit),
        )
        return [_row(Order, r) for r in rows]

    async def add_order(self, *, customer_id: int, order_number: str, status: str,
                        item_summary: str, total_cents: int, placed_at: str,
                        expected_delivery: str | None = None, carrier: str | None = None,
                        tracking_number: str | None = None) -> None:
        """Insert an order unless that order number exists (idempotent; used by the seed)."""
        await self.db.execute(
            "INSERT INTO orders (order_number, customer_id, status, item_summary, total_cents,"
            " placed_at, expected_delivery, carrier, tracking_number, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_number) DO NOTHING",
            (order_number, customer_id, status, item_summary, total_cents, placed_at,
             expected_delivery, carrier, tracking_number, utc_now()),
        )

    # -- slots -------------------------------------------------------------------------------

    async def add_slot(self, *, starts_at: str, duration_min: int, service: str,
                       location: str) -> Slot:
        def work(tx: Tx) -> dict[str, Any]:
            tx.execute(
                "INSERT INTO appointment_slots (starts_at, duration_min, service, location)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (starts_at, service, location) DO NOTHING",
                (starts_at, duration_min, service, location),
            )
            row = tx.fetchone(
                "SELECT * FROM appointment_slots WHERE starts_at = ? AND service = ?"
                " AND location = ?", (starts_at, service, location))
            assert row is not None
            return row

        return _row(Slot, await self.db.transaction(work))

    async def slot(self, slot_id: int) -> Slot | None:
        row = await self.db.fetchone("SELECT * FROM appointment_slots WHERE id = ?", (slot_id,))
        return _row(Slot, row) if row else None

    async def services(self) -> list[str]:
        rows = await self.db.fetchall("SELECT DISTINCT service FROM appointment_slots")
        return sorted(r["service"] for r in rows)

    async def available_slots(self, *, date_from: str, date_to: str, service: str | None = None,
                              limit: int = 6) -> list[Slot]:
        """Free future slots with `date_from <= starts_at < date_to` (local time text)."""
        sql = (
            "SELECT s.* FROM appointment_slots s WHERE s.starts_at >= ? AND s.starts_at < ?"
            " AND s.starts_at > ?"
            " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id"
            " AND b.status = 'booked')"
        )
        params: list[Any] = [date_from, date_to, self._now_slot()]
        if service:
            sql += " AND s.service = ?"
            params.append(service)
        sql += " ORDER BY s.starts_at, s.id LIMIT ?"
        params.append(limit)
        return [_row(Slot, r) for r in await self.db.fetchall(sql, params)]

    async def is_slot_free(self, slot_id: int) -> bool:
        """True if the slot exists, is in the future and has no active booking."""
        row = await self.db.fetchone(
            "SELECT 1 AS free FROM appointment_slots s WHERE s.id = ? AND s.starts_at > ?"
            " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id"
            " AND b.status = 'booked')", (slot_id, self._now_slot()))
        return row is not None

    # -- bookings (always scoped to a customer) -----------------------------------------------

    async def booking_for_customer(self, customer_id: int, booking_id: int) -> Booking | None:
        row = await self.db.fetchone(
            _BOOKING_SELECT + " WHERE b.id = ? AND b.customer_id = ?", (booking_id, customer_id)
        )
        return _booking(row) if row else None

    async def bookings_for_customer(self, customer_id: int, *,
                                    active_only: bool = True) -> list[Booking]:
        sql = _BOOKING_SELECT + " WHERE b.customer_id = ?"
        if active_only:
            sql += " AND b.status = 'booked'"
        rows = await self.db.fetchall(sql + " ORDER BY s.starts_at, b.id", (customer_id,))
        return [_booking(r) for r in rows]

    def _insert_booking(self, tx: Tx, customer_id: int, slot_id: int, call_id: str | None,
                        rescheduled_from: int | None) -> int:
        slot = tx.fetchone("SELECT starts_at FROM appointment_slots WHERE id = ?", (slot_id,))
        if slot is None:
            raise NotFound("slot")
        if slot["starts_at"] <= self._now_slot():
            raise SlotUnavailable("slot is in the past")
        try:
            row = tx.fetchone(
                "INSERT INTO bookings (slot_id, customer_id, status, created_at, call_id,"
                " rescheduled_from) VALUES (?, ?, 'booked', ?, ?, ?) RETURNING id",
                (slot_id, customer_id, utc_now(), call_id, rescheduled_from),
            )
        except IntegrityError as exc:
            raise SlotUnavailable("slot already booked") from exc
        assert row is not None
        return int(row["id"])

    async def book(self, *, customer_id: int, slot_id: int,
                   call_id: str | None = None) -> Booking:
        """Book a free slot. Raises `SlotUnavailable` if taken (enforced by a UNIQUE index)."""

        def work(tx: Tx) -> dict[str, Any]:
            booking_id = self._insert_booking(tx, customer_id, slot_id, call_id, None)
            row = tx.fetchone(_BOOKING_SELECT + " WHERE b.id = ?", (booking_id,))
            assert row is not None
            return row

        return _booking(await self.db.transaction(work))

    async def cancel_booking(self, *, customer_id: int, booking_id: int) -> Booking:
        """Cancel the customer's own active booking. Raises `NotFound` otherwise."""

        def work(tx: Tx) -> dict[str, Any]:
            _cancel_active(tx, customer_id, booking_id)
            row = tx.fetchone(_BOOKING_SELECT + " WHERE b.id = ?", (booking_id,))
            assert row is not None
            return row

        return _booking(await self.db.transaction(work))

    async def reschedule_booking(self, *, customer_id: int, booking_id: int, new_slot_id: int,
                                 call_id: str | None = None) -> Booking:
        """Atomically cancel the customer's booking and book `new_slot_id`; returns the new one."""

        def work(tx: Tx) -> dict[str, Any]:
            _cancel_active(tx, customer_id, booking_id)
            new_id = self._insert_booking(tx, customer_id, new_slot_id, call_id, booking_id)
            row = tx.fetchone(_BOOKING_SELECT + " WHERE b.id = ?", (new_id,))
            assert row is not None
            return row

        return _booking(await self.db.transaction(work))

    # -- tickets, outbox, callbacks -------------------------------------------------------------

    async def create_ticket(self, *, customer_id: int | None, subject: str, description: str,
                            priority: str = "normal", order_id: int | None = None,
                            call_id: str | None = None) -> Ticket:
        row = await self.db.fetchone(
            "INSERT INTO support_tickets (customer_id, order_id, subject, description, priority,"
            " status, created_at, call_id) VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING *",
            (customer_id, order_id, subject, description, priority, utc_now(), call_id),
        )
        assert row is not None
        return _row(Ticket, row)

    async def tickets_for_customer(self, customer_id: int) -> list[Ticket]:
        rows = await self.db.fetchall(
            "SELECT * FROM support_tickets WHERE customer_id = ? ORDER BY id", (customer_id,))
        return [_row(Ticket, r) for r in rows]

    async def enqueue_sms(self, *, recipient: str, body: str, idempotency_key: str,
                          customer_id: int | None = None) -> tuple[OutboxMessage, bool]:
        """Queue an SMS exactly once per `idempotency_key`; returns (message, newly_created)."""

        def work(tx: Tx) -> tuple[dict[str, Any], bool]:
            n = tx.execute(
                "INSERT INTO outbox (customer_id, channel, recipient, body, status,"
                " idempotency_key, created_at) VALUES (?, 'sms', ?, ?, 'pending', ?, ?)"
                " ON CONFLICT (idempotency_key) DO NOTHING",
                (customer_id, recipient, body, idempotency_key, utc_now()),
            )
            row = tx.fetchone("SELECT * FROM outbox WHERE idempotency_key = ?",
                              (idempotency_key,))
            assert row is not None
            return row, n == 1

        row, created = await self.db.transaction(work)
        return _row(OutboxMessage, row), created

    async def outbox(self, *, status: str | None = None) -> list[OutboxMessage]:
        if status:
            rows = await self.db.fetchall("SELECT * FROM outbox WHERE status = ? ORDER BY id",
                                          (status,))
        else:
            rows = await self.db.fetchall("SELECT * FROM outbox ORDER BY id")
        return [_row(OutboxMessage, r) for r in rows]

    async def mark_outbox_sent(self, message_id: int, provider_message_id: str | None) -> None:
        await self.db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, provider_message_id = ?,"
            " attempts = attempts + 1 WHERE id = ?",
            (utc_now(), provider_message_id, message_id),
        )

    async def create_callback(self, *, phone_e164: str, customer_id: int | None = None,
                              preferred_time: str | None = None, reason: str | None = None,
                              call_id: str | None = None) -> CallbackRequest:
        row = await self.db.fetchone(
            "INSERT INTO callback_requests (customer_id, phone_e164, preferred_time, reason,"
            " status, created_at, call_id) VALUES (?, ?, ?, ?, 'open', ?, ?) RETURNING *",
            (customer_id, phone_e164, preferred_time, reason, utc_now(), call_id),
        )
        assert row is not None
        return _row(CallbackRequest, row)

    async def count_callbacks(self, *, call_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM callback_requests WHERE call_id = ?", (call_id,))
        return int(row["n"]) if row else 0

    async def callbacks(self) -> list[CallbackRequest]:
        rows = await self.db.fetchall("SELECT * FROM callback_requests ORDER BY id")
        return [_row(CallbackRequest, r) for r in rows]

    # -- audit log -----------------------------------------------------------------------------

    async def write_audit(self, entry: AuditEntry) -> None:
        await self.db.execute(
            "INSERT INTO audit_log (at, call_id, caller, customer_id, tool, arguments, outcome,"
            " result, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.at or utc_now(), entry.call_id, entry.caller, entry.customer_id, entry.tool,
             entry.arguments, entry.outcome, entry.result, entry.latency_ms),
        )

    async def audit_entries(self, *, call_id: str | None = None,
                            tool: str | None = None) -> list[AuditEntry]:
        sql, params = "SELECT * FROM audit_log WHERE 1 = 1", []
        if call_id is not None:
            sql += " AND call_id = ?"
            params.append(call_id)
        if tool is not None:
            sql += " AND tool = ?"
            params.append(tool)
        rows = await self.db.fetchall(sql + " ORDER BY id", params)
        return [_row(AuditEntry, r) for r in rows]

    # -- call records (agent/observability/calls.py writes them while the call runs) ----------

    async def start_call(self, *, call_uid: str, room: str, channel: str, direction: str,
                         caller_masked: str | None, sip_call_id: str | None) -> None:
        await self.db.execute(
            "INSERT INTO calls (call_uid, room, channel, direction, caller_masked, sip_call_id,"
            " started_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_uid) DO NOTHING",
            (call_uid, room, channel, direction, caller_masked, sip_call_id, utc_now()),
        )

    async def add_transcript_line(self, *, call_uid: str, role: str, text: str,
                                  metrics: dict[str, float], interrupted: bool) -> None:
        """One line of the (already redacted) transcript, with its latency metrics."""
        detail = json.dumps({"metrics": metrics, "interrupted": interrupted})
        await self.db.execute(
            "INSERT INTO call_events (call_uid, at, kind, role, text, detail)"
            " VALUES (?, ?, 'transcript', ?, ?, ?)",
            (call_uid, utc_now(), role, text, detail),
        )

    async def add_call_event(self, *, call_uid: str, kind: str, detail: str) -> None:
        await self.db.execute(
            "INSERT INTO call_events (call_uid, at, kind, detail) VALUES (?, ?, ?, ?)",
            (call_uid, utc_now(), kind, detail),
        )

    async def finish_call(self, *, call_uid: str, ended_by: str, reason: str,
                          duration_s: float) -> None:
        await self.db.execute(
            "UPDATE calls SET ended_at = ?, ended_by = ?, end_reason = ?, duration_s = ?"
            " WHERE call_uid = ?",
            (utc_now(), ended_by, reason, duration_s, call_uid),
        )

    async def call(self, call_uid: str) -> dict[str, Any] | None:
        row = await self.db.fetchone("SELECT * FROM calls WHERE call_uid = ?", (call_uid,))
        return dict(row) if row else None

    async def recent_calls(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    async def call_events(self, call_uid: str, kind: str | None = None
                          ) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM call_events WHERE call_uid = ?", [call_uid]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = await self.db.fetchall(sql + " ORDER BY id", params)
        return [dict(r) for r in rows]

    # -- idempotency keys ---------------------------------------------------------------------

    async def claim_idempotency_key(self, key: str, *, tool: str,
                                    call_id: str | None) -> tuple[bool, str | None, str]:
        """Try to claim `key`. Returns (claimed, stored_result, status).

        `claimed` is True only for the first caller; later callers get the stored result (or
        status `in_progress` while the first one is still running).
        """

        def work(tx: Tx) -> tuple[bool, str | None, str]:
            n = tx.execute(
                "INSERT INTO idempotency_keys (key, tool, call_id, status, created_at)"
                " VALUES (?, ?, ?, 'in_progress', ?) ON CONFLICT (key) DO NOTHING",
                (key, tool, call_id, utc_now()),
            )
            if n == 1:
                return True, None, "in_progress"
            row = tx.fetchone("SELECT status, result FROM idempotency_keys WHERE key = ?", (key,))
            assert row is not None
            return False, row["result"], row["status"]

        return await self.db.transaction(work)

    async def idempotency_result(self, key: str) -> tuple[str, str | None] | None:
        row = await self.db.fetchone("SELECT status, result FROM idempotency_keys WHERE key = ?",
                                     (key,))
        return (row["status"], row["result"]) if row else None

    async def complete_idempotency_key(self, key: str, result: str) -> None:
        await self.db.execute(
            "UPDATE idempotency_keys SET status = 'done', result = ? WHERE key = ?", (result, key))

    async def release_idempotency_key(self, key: str) -> None:
        """Forget a claim whose action failed, so a corrected retry can run."""
        await self.db.execute(
            "DELETE FROM idempotency_keys WHERE key = ? AND status = 'in_progress'", (key,))


def _cancel_active(tx: Tx, customer_id: int, booking_id: int) -> None:
    """Cancel the customer's own active booking inside `tx`; `NotFound` if there is none."""
    n = tx.execute(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = ?"
        " WHERE id = ? AND customer_id = ? AND status = 'booked'",
        (utc_now(), booking_id, customer_id),
    )
    if n != 1:
        raise NotFound("booking")
