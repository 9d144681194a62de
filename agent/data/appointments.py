"""Appointment slots and bookings. Booking queries are customer-scoped, and a UNIQUE index (see
`schema`) makes double-booking impossible whatever the race."""

from __future__ import annotations

from .db import IntegrityError
from .records import SLOT_FORMAT, Booking, NotFound, Slot, SlotUnavailable, from_row
from .sql import Row, SqlValue, Tx, utc_now
from .store import Store

_BOOKING_SELECT = (
    "SELECT b.id, b.slot_id, b.customer_id, b.status, b.created_at, b.cancelled_at,"
    " b.rescheduled_from, s.starts_at, s.duration_min, s.service, s.location"
    " FROM bookings b JOIN appointment_slots s ON s.id = b.slot_id"
)


def _booking(row: Row) -> Booking:
    slot = Slot(id=row["slot_id"], starts_at=row["starts_at"], duration_min=row["duration_min"],
                service=row["service"], location=row["location"])
    return Booking(id=row["id"], slot_id=row["slot_id"], customer_id=row["customer_id"],
                   status=row["status"], created_at=row["created_at"],
                   cancelled_at=row["cancelled_at"], rescheduled_from=row["rescheduled_from"],
                   slot=slot)


def _booking_by_id(tx: Tx, booking_id: int) -> Row:
    row = tx.fetchone(_BOOKING_SELECT + " WHERE b.id = ?", (booking_id,))
    assert row is not None
    return row


def _cancel_active(tx: Tx, customer_id: int, booking_id: int) -> None:
    """Cancel the customer's own active booking inside `tx`; `NotFound` if there is none."""
    n = tx.execute(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = ?"
        " WHERE id = ? AND customer_id = ? AND status = 'booked'",
        (utc_now(), booking_id, customer_id),
    )
    if n != 1:
        raise NotFound("booking")


class AppointmentStore(Store):
    def _now_slot(self) -> str:
        return self.clock().strftime(SLOT_FORMAT)

    # -- slots -------------------------------------------------------------------------------

    async def add_slot(self, *, starts_at: str, duration_min: int, service: str,
                       location: str) -> Slot:
        def work(tx: Tx) -> Row:
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

        return from_row(Slot, await self.db.transaction(work))

    async def slot(self, slot_id: int) -> Slot | None:
        row = await self.db.fetchone("SELECT * FROM appointment_slots WHERE id = ?", (slot_id,))
        return from_row(Slot, row) if row else None

    async def services(self) -> list[str]:
        rows = await self.db.fetchall("SELECT DISTINCT service FROM appointment_slots")
        return sorted(str(r["service"]) for r in rows)

    async def available_slots(self, *, date_from: str, date_to: str, service: str | None = None,
                              limit: int = 6) -> list[Slot]:
        """Free future slots with `date_from <= starts_at < date_to` (local time text)."""
        sql = (
            "SELECT s.* FROM appointment_slots s WHERE s.starts_at >= ? AND s.starts_at < ?"
            " AND s.starts_at > ?"
            " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id"
            " AND b.status = 'booked')"
        )
        params: list[SqlValue] = [date_from, date_to, self._now_slot()]
        if service:
            sql += " AND s.service = ?"
            params.append(service)
        sql += " ORDER BY s.starts_at, s.id LIMIT ?"
        params.append(limit)
        return [from_row(Slot, r) for r in await self.db.fetchall(sql, params)]

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

    # Each change exists twice: `..._in(tx, ...)` does it inside a transaction the caller
    # runs (the confirmation gate records its idempotency key in the same one), and the async
    # method runs it in a transaction of its own.

    def book_in(self, tx: Tx, *, customer_id: int, slot_id: int,
                call_id: str | None = None) -> Booking:
        """Book a free slot. Raises `SlotUnavailable` if taken (enforced by a UNIQUE index)."""
        booking_id = self._insert_booking(tx, customer_id, slot_id, call_id, None)
        return _booking(_booking_by_id(tx, booking_id))

    async def book(self, *, customer_id: int, slot_id: int,
                   call_id: str | None = None) -> Booking:
        return await self.db.transaction(lambda tx: self.book_in(
            tx, customer_id=customer_id, slot_id=slot_id, call_id=call_id))

    def cancel_booking_in(self, tx: Tx, *, customer_id: int, booking_id: int) -> Booking:
        """Cancel the customer's own active booking. Raises `NotFound` otherwise."""
        _cancel_active(tx, customer_id, booking_id)
        return _booking(_booking_by_id(tx, booking_id))

    async def cancel_booking(self, *, customer_id: int, booking_id: int) -> Booking:
        return await self.db.transaction(lambda tx: self.cancel_booking_in(
            tx, customer_id=customer_id, booking_id=booking_id))

    def reschedule_booking_in(self, tx: Tx, *, customer_id: int, booking_id: int,
                              new_slot_id: int, call_id: str | None = None) -> Booking:
        """Cancel the customer's booking and book `new_slot_id` (atomic within `tx`)."""
        _cancel_active(tx, customer_id, booking_id)
        new_id = self._insert_booking(tx, customer_id, new_slot_id, call_id, booking_id)
        return _booking(_booking_by_id(tx, new_id))

    async def reschedule_booking(self, *, customer_id: int, booking_id: int, new_slot_id: int,
                                 call_id: str | None = None) -> Booking:
        return await self.db.transaction(lambda tx: self.reschedule_booking_in(
            tx, customer_id=customer_id, booking_id=booking_id, new_slot_id=new_slot_id,
            call_id=call_id))
