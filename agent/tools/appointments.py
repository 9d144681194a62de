"""Appointment tools: free times for anyone; listing, booking, moving and cancelling for the
verified caller's own bookings. Every change goes through `confirmed_action`."""

from __future__ import annotations

from datetime import timedelta

from livekit.agents import RunContext, ToolError, function_tool

from agent.call_state import CallState
from agent.data.repository import Booking, NotFound, Repository, Slot, SlotUnavailable
from agent.data.sql import Tx

from .audit import audited
from .confirmation import Prepared, confirmed_action
from .services import services_of
from .validation import Text, clean_text, parse_date, parse_id
from .verification import require_verified
from .wording import day, speakable_slot

MAX_ACTIVE_BOOKINGS = 3
_NO_LONGER_ACTIVE = "That booking is no longer active, so nothing was changed."


async def _resolve_service(ctx: RunContext[CallState], service: str) -> str | None:
    wanted = clean_text(service, what="service", max_len=60, required=False).lower()
    if not wanted:
        return None
    offered = await services_of(ctx).repo.services()
    for name in offered:
        if wanted == name.lower() or wanted in name.lower() or name.lower() in wanted:
            return name
    raise ToolError("We don't offer that. Available services are: " + ", ".join(offered) + ".")


async def _free_slot(repo: Repository, slot_id: int) -> Slot:
    slot = await repo.slot(slot_id)
    if slot is None:
        raise ToolError(f"There is no appointment slot {slot_id}. Please list the available "
                        "times again.")
    if slot.start <= repo.clock():
        raise ToolError("That time has already passed. Please choose another slot.")
    if not await repo.is_slot_free(slot.id):
        raise ToolError("That time is already taken. Please offer the caller another slot.")
    return slot


async def upcoming_booking(repo: Repository, customer_id: int, booking_id: int) -> Booking:
    """The caller's own booking that is still to come, or a sentence the agent can say."""
    booking = await repo.booking_for_customer(customer_id, booking_id)
    if booking is None or booking.status != "booked":
        raise ToolError(f"I couldn't find an upcoming booking {booking_id} on this account.")
    return booking


@function_tool
@audited("read")
async def list_available_slots(ctx: RunContext[CallState], date: Text = "",
                               service: Text = "") -> str:
    """List free appointment times at our service centre. Anyone may ask; no verification needed.

    Offer the caller two or three of the returned times. To book, use the slot number shown
    next to the chosen time with book_appointment (or reschedule_appointment).

    Args:
        date: The day the caller wants, as YYYY-MM-DD, or "today" / "tomorrow". Leave empty for
            the next available times.
        service: "device repair" or "installation consultation". Leave empty for any.
    """
    services = services_of(ctx)
    today = services.today()
    wanted_service = await _resolve_service(ctx, service)
    if str(date).strip():
        wanted_day = parse_date(date, today=today)
        start, end = wanted_day, wanted_day + timedelta(days=1)
    else:
        wanted_day = None
        start, end = today, today + timedelta(days=30)
    slots = await services.repo.available_slots(date_from=start.isoformat(),
                                                date_to=end.isoformat(),
                                                service=wanted_service, limit=6)
    prefix = ""
    if not slots and wanted_day is not None:
        slots = await services.repo.available_slots(
            date_from=end.isoformat(), date_to=(end + timedelta(days=30)).isoformat(),
            service=wanted_service, limit=4)
        prefix = f"Nothing is free on {day(wanted_day.isoformat())}. "
    if not slots:
        return prefix + "There are no free appointment times in the next month."
    listed = "; ".join(
        f"slot {s.id}: {speakable_slot(s.start)}, {s.service} ({s.duration_min} minutes)"
        for s in slots)
    return prefix + "Free times: " + listed + "."


@function_tool
@audited("read")
async def list_my_appointments(ctx: RunContext[CallState]) -> str:
    """List the verified caller's own upcoming appointments, with their booking numbers.

    Requires verify_identity first. Use the booking number with reschedule_appointment,
    cancel_appointment or send_sms_confirmation.
    """
    customer = await require_verified(ctx)
    bookings = await services_of(ctx).repo.bookings_for_customer(customer.id)
    if not bookings:
        return "The caller has no upcoming appointments."
    return "Upcoming appointments: " + "; ".join(
        f"booking {b.id}: {b.slot.service} on {speakable_slot(b.slot.start)}" for b in bookings
    ) + "."


@function_tool
@audited("write")
async def book_appointment(ctx: RunContext[CallState], slot_id: Text = "") -> str:
    """Book an appointment slot for the verified caller.

    Requires verify_identity first. Works in two steps enforced by the system: the first call
    books nothing and returns a sentence to read back to the caller; after the caller clearly
    says yes, call it again with the same slot number to book. Never call it a second time
    without the caller's yes.

    Args:
        slot_id: The slot number from list_available_slots, digits only.
    """
    customer = await require_verified(ctx, change=True)
    repo = services_of(ctx).repo
    sid = parse_id(slot_id, what="slot")

    async def prepare() -> Prepared:
        slot = await _free_slot(repo, sid)
        active = await repo.bookings_for_customer(customer.id)
        if len(active) >= MAX_ACTIVE_BOOKINGS:
            raise ToolError(f"The caller already has {len(active)} upcoming appointments, the "
                            "most we allow. Offer to reschedule or cancel one instead.")

        def book(tx: Tx) -> str:
            try:
                booking = repo.book_in(tx, customer_id=customer.id, slot_id=slot.id,
                                       call_id=ctx.userdata.call_uid)
            except SlotUnavailable:
                raise ToolError("Sorry, that time was just taken. Please offer another slot.") \
                    from None
            return (f"Booked: {booking.slot.service} on {speakable_slot(booking.slot.start)} "
                    f"at the {booking.slot.location}. Booking number {booking.id}.")

        return Prepared(f"Book a {slot.service} appointment on {speakable_slot(slot.start)} "
                        f"at the {slot.location}?", book)

    return await confirmed_action(ctx, tool="book_appointment", args={"slot_id": sid},
                                  prepare=prepare)


@function_tool
@audited("write")
async def reschedule_appointment(ctx: RunContext[CallState], booking_id: Text = "",
                                 new_slot_id: Text = "") -> str:
    """Move one of the verified caller's own appointments to another free slot.

    Requires verify_identity first. Two steps enforced by the system: the first call changes
    nothing and returns a read-back; only after the caller clearly says yes, call again with
    the same numbers to make the change.

    Args:
        booking_id: The caller's booking number (from list_my_appointments), digits only.
        new_slot_id: The new slot number from list_available_slots, digits only.
    """
    customer = await require_verified(ctx, change=True)
    repo = services_of(ctx).repo
    bid = parse_id(booking_id, what="booking")
    sid = parse_id(new_slot_id, what="new slot")

    async def prepare() -> Prepared:
        booking = await upcoming_booking(repo, customer.id, bid)
        slot = await _free_slot(repo, sid)

        def reschedule(tx: Tx) -> str:
            try:
                new = repo.reschedule_booking_in(
                    tx, customer_id=customer.id, booking_id=bid, new_slot_id=slot.id,
                    call_id=ctx.userdata.call_uid)
            except SlotUnavailable:
                raise ToolError("Sorry, that new time was just taken; the old appointment is "
                                "unchanged. Please offer another slot.") from None
            except NotFound:
                raise ToolError(_NO_LONGER_ACTIVE) from None
            return (f"Rescheduled: {new.slot.service} now on {speakable_slot(new.slot.start)}. "
                    f"New booking number {new.id}.")

        return Prepared(f"Move your {booking.slot.service} appointment from "
                        f"{speakable_slot(booking.slot.start)} to "
                        f"{speakable_slot(slot.start)}?", reschedule)

    return await confirmed_action(ctx, tool="reschedule_appointment",
                                  args={"booking_id": bid, "new_slot_id": sid}, prepare=prepare)


@function_tool
@audited("write")
async def cancel_appointment(ctx: RunContext[CallState], booking_id: Text = "") -> str:
    """Cancel one of the verified caller's own appointments.

    Requires verify_identity first. Two steps enforced by the system: the first call cancels
    nothing and returns a read-back; only after the caller clearly says yes, call again with
    the same booking number. Only the caller's own bookings can be cancelled, one at a time.

    Args:
        booking_id: The caller's booking number (from list_my_appointments), digits only.
    """
    customer = await require_verified(ctx, change=True)
    repo = services_of(ctx).repo
    bid = parse_id(booking_id, what="booking")

    async def prepare() -> Prepared:
        booking = await upcoming_booking(repo, customer.id, bid)
        when = speakable_slot(booking.slot.start)

        def cancel(tx: Tx) -> str:
            try:
                repo.cancel_booking_in(tx, customer_id=customer.id, booking_id=bid)
            except NotFound:
                raise ToolError(_NO_LONGER_ACTIVE) from None
            return f"Cancelled the {booking.slot.service} appointment on {when}."

        return Prepared(f"Cancel your {booking.slot.service} appointment on {when}?", cancel)

    return await confirmed_action(ctx, tool="cancel_appointment", args={"booking_id": bid},
                                  prepare=prepare)
