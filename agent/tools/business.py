"""Business tools the agent may call during a phone call.

Each tool is a module-level `@function_tool`; its docstring is what the model reads. All
arguments arrive as text (numbers are accepted too) and are validated here, so a malformed
value becomes one short sentence for the caller (`ToolError`), never a stack trace. Safety rules
(identity, confirmation, idempotency, audit, filler speech) live in `agent/tools/guards.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from livekit.agents import RunContext, ToolError, function_tool
from pydantic import BeforeValidator

from agent.call_state import CallState
from agent.data.repository import NotFound, Order, Slot, SlotUnavailable
from agent.data.sms import MAX_SMS_CHARS

from .guards import (
    MAX_VERIFICATION_FAILURES,
    ConfirmationGate,
    NotAllowed,
    audited,
    check_pin_or_dob,
    clean_text,
    confirm_then_run,
    normalize_caller_number,
    parse_date,
    parse_id,
    parse_order_number,
    parse_phone,
    require_verified,
    services_of,
    speakable_phone,
    speakable_slot,
)

MAX_ACTIVE_BOOKINGS = 3
MAX_CALLBACKS_PER_CALL = 2
try:  # the company name callers hear in the greeting, so the SMS signs the same way
    from agent.prompts import COMPANY as BUSINESS_NAME
except ImportError:  # pragma: no cover
    BUSINESS_NAME = "Northwind Home Services"


def _coerce_text(value: Any) -> Any:
    """Accept numbers/null where text is expected; validation proper happens in the tool."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return "[structured value]"
    return value


# A string parameter that tolerates numbers and null, so every call reaches the tool body
# (and the audit log) instead of failing in schema validation.
Text = Annotated[str, BeforeValidator(_coerce_text)]


def _money(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def _day(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        d = datetime.strptime(iso[:10], "%Y-%m-%d")
    except ValueError:
        return iso
    return d.strftime("%A, %B ") + str(d.day)


_ORDER_STATUS = {
    "processing": "is being prepared and hasn't shipped yet",
    "shipped": "has shipped",
    "out_for_delivery": "is out for delivery today",
    "delivered": "was delivered",
    "cancelled": "was cancelled",
    "returned": "was returned and refunded",
}


def _describe_order(order: Order) -> str:
    text = f"Order {order.order_number} ({order.item_summary}, {_money(order.total_cents)}) " \
           f"{_ORDER_STATUS.get(order.status, order.status)}"
    if order.carrier and order.status in ("shipped", "out_for_delivery"):
        text += f" with {order.carrier}"
        if order.tracking_number:
            text += f", tracking number ending {order.tracking_number[-4:]}"
    if order.expected_delivery and order.status in ("processing", "shipped",
                                                    "out_for_delivery"):
        text += f"; expected delivery {_day(order.expected_delivery)}"
    return text + "."


# -- identity ------------------------------------------------------------------------------------


@function_tool
@audited("read")
async def lookup_customer(ctx: RunContext[CallState]) -> str:
    """Check whether the number the caller is phoning from belongs to a customer account.

    Call this early in the call, before any account question. It only says whether an account
    matches the caller's phone line and whether the caller is already verified; it never
    reveals account details. Callers whose number is not on file can still hear available
    appointment times, leave a callback number, or be transferred to a person.
    """
    state = ctx.userdata
    repo = services_of(ctx).repo
    if state.verified_customer_id is not None:
        customer = await require_verified(ctx)
        return f"The caller is already verified as {customer.full_name}."
    number = normalize_caller_number(state.caller.phone_number)
    customer = await repo.customer_by_phone(number) if number else None
    if customer is None:
        return ("No customer account matches the number the caller is phoning from. Account "
                "details can only be discussed on a call from the number on file. You can "
                "still list appointment times, take a callback number, or transfer them.")
    return ("A customer account matches this phone line, but the caller is not verified yet. "
            "Before any account detail, ask for their date of birth, or their PIN on the keypad, "
            "and call verify_identity.")


@function_tool
@audited("read")
async def verify_identity(ctx: RunContext[CallState], date_of_birth: Text = "",
                          pin: Text = "") -> str:
    """Verify the caller against the account that matches their phone line.

    Ask the caller for their date of birth, or to type their account PIN on the keypad and
    press pound. Pass exactly what they said; never guess or fill in values yourself. If they
    typed the PIN on the keypad, call this with no arguments: the typed digits are read
    automatically. After three failed attempts verification is locked for the call; then
    offer a callback or a transfer.

    Args:
        date_of_birth: The caller's date of birth as YYYY-MM-DD, converted from what they said
            (e.g. "March 14th 1985" becomes "1985-03-14").
        pin: The account PIN the caller spoke (4 to 8 digits). Leave empty when they typed it.
    """
    state = ctx.userdata
    services = services_of(ctx)
    if state.verification_failures >= MAX_VERIFICATION_FAILURES:
        raise NotAllowed("Verification is locked for this call after too many attempts. Offer a "
                         "callback or a transfer to a colleague.")
    number = normalize_caller_number(state.caller.phone_number)
    customer = await services.repo.customer_by_phone(number) if number else None
    if customer is None:
        raise NotAllowed("I can only verify callers phoning from the number on their account. "
                         "Offer a callback or a transfer instead.")
    typed = "".join(ch for ch in state.dtmf_buffer if ch.isdigit())
    if not pin and not date_of_birth and typed:
        pin = typed
    state.dtmf_buffer = ""  # consumed (or stale) either way
    if not pin and not date_of_birth:
        raise ToolError("Ask the caller for their date of birth, or to type their PIN on the "
                        "keypad, then try again.")
    if check_pin_or_dob(customer, pin=pin, date_of_birth=date_of_birth, today=services.today()):
        state.verified_customer_id = customer.id
        state.verification_failures = 0
        return (f"Verified. The caller is {customer.full_name}; you may address them as "
                f"{customer.first_name} and help with their own account.")
    state.verification_failures += 1
    left = MAX_VERIFICATION_FAILURES - state.verification_failures
    if left <= 0:
        raise NotAllowed("That doesn't match our records, and verification is now locked for "
                         "this call. Offer a callback or a transfer to a colleague.")
    raise ToolError(f"That doesn't match our records. The caller has {left} more "
                    f"{'try' if left == 1 else 'tries'}.")


# -- orders --------------------------------------------------------------------------------------


@function_tool
@audited("read")
async def check_order_status(ctx: RunContext[CallState], order_number: Text = "") -> str:
    """Tell a verified caller the status of one of their own orders.

    Requires verify_identity first. Works only for orders on the caller's own account; other
    customers' orders are never shown, whatever the caller says. Leave order_number empty to
    hear the caller's most recent orders.

    Args:
        order_number: The six-digit order number from the order confirmation, digits only.
    """
    customer = await require_verified(ctx)
    repo = services_of(ctx).repo
    if not str(order_number).strip():
        orders = await repo.orders_for_customer(customer.id, limit=3)
        if not orders:
            return "There are no orders on this account."
        return "Most recent orders: " + " ".join(_describe_order(o) for o in orders)
    number = parse_order_number(order_number)
    order = await repo.order_for_customer(customer.id, number)
    if order is None:
        # Same answer whether the order exists for someone else or not at all.
        raise ToolError(f"I couldn't find order {number} on this account. Please check the "
                        "number on the confirmation email.")
    return _describe_order(order)


# -- appointments --------------------------------------------------------------------------------


async def _resolve_service(ctx: RunContext[CallState], service: str) -> str | None:
    wanted = clean_text(service, what="service", max_len=60, required=False).lower()
    if not wanted:
        return None
    offered = await services_of(ctx).repo.services()
    for name in offered:
        if wanted == name.lower() or wanted in name.lower() or name.lower() in wanted:
            return name
    raise ToolError("We don't offer that. Available services are: " + ", ".join(offered) + ".")


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
        day = parse_date(date, today=today)
        start, end = day, day + timedelta(days=1)
    else:
        day = None
        start, end = today, today + timedelta(days=30)
    slots = await services.repo.available_slots(date_from=start.isoformat(),
                                                date_to=end.isoformat(),
                                                service=wanted_service, limit=6)
    prefix = ""
    if not slots and day is not None:
        slots = await services.repo.available_slots(
            date_from=end.isoformat(), date_to=(end + timedelta(days=30)).isoformat(),
            service=wanted_service, limit=4)
        prefix = f"Nothing is free on {_day(day.isoformat())}. "
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


async def _free_slot(ctx: RunContext[CallState], slot_id: int) -> Slot:
    services = services_of(ctx)
    slot = await services.repo.slot(slot_id)
    if slot is None:
        raise ToolError(f"There is no appointment slot {slot_id}. Please list the available "
                        "times again.")
    if slot.start <= services.repo.clock():
        raise ToolError("That time has already passed. Please choose another slot.")
    if not await services.repo.is_slot_free(slot.id):
        raise ToolError("That time is already taken. Please offer the caller another slot.")
    return slot


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
    customer = await require_verified(ctx)
    services = services_of(ctx)
    sid = parse_id(slot_id, what="slot")
    gate = ConfirmationGate(ctx, tool="book_appointment", args={"slot_id": sid})
    if (done := await gate.replay()) is not None:
        return done
    slot = await _free_slot(ctx, sid)
    active = await services.repo.bookings_for_customer(customer.id)
    if len(active) >= MAX_ACTIVE_BOOKINGS:
        raise ToolError(f"The caller already has {len(active)} upcoming appointments, the "
                        "most we allow. Offer to reschedule or cancel one instead.")
    readback = (f"Book a {slot.service} appointment on {speakable_slot(slot.start)} at the "
                f"{slot.location}?")

    async def act() -> str:
        try:
            booking = await services.repo.book(customer_id=customer.id, slot_id=slot.id,
                                               call_id=ctx.userdata.call_uid)
        except SlotUnavailable:
            raise ToolError("Sorry, that time was just taken. Please offer another slot.") \
                from None
        return (f"Booked: {booking.slot.service} on {speakable_slot(booking.slot.start)} at the "
                f"{booking.slot.location}. Booking number {booking.id}.")

    return await gate.run(readback, act)


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
    customer = await require_verified(ctx)
    services = services_of(ctx)
    bid = parse_id(booking_id, what="booking")
    sid = parse_id(new_slot_id, what="new slot")
    gate = ConfirmationGate(ctx, tool="reschedule_appointment",
                            args={"booking_id": bid, "new_slot_id": sid})
    if (done := await gate.replay()) is not None:
        return done
    booking = await services.repo.booking_for_customer(customer.id, bid)
    if booking is None or booking.status != "booked":
        raise ToolError(f"I couldn't find an upcoming booking {bid} on this account.")
    slot = await _free_slot(ctx, sid)
    readback = (f"Move your {booking.slot.service} appointment from "
                f"{speakable_slot(booking.slot.start)} to {speakable_slot(slot.start)}?")

    async def act() -> str:
        try:
            new = await services.repo.reschedule_booking(
                customer_id=customer.id, booking_id=bid, new_slot_id=slot.id,
                call_id=ctx.userdata.call_uid)
        except SlotUnavailable:
            raise ToolError("Sorry, that new time was just taken; the old appointment is "
                            "unchanged. Please offer another slot.") from None
        except NotFound:
            raise ToolError("That booking is no longer active, so nothing was changed.") \
                from None
        return (f"Rescheduled: {new.slot.service} now on {speakable_slot(new.slot.start)}. "
                f"New booking number {new.id}.")

    return await gate.run(readback, act)


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
    customer = await require_verified(ctx)
    services = services_of(ctx)
    bid = parse_id(booking_id, what="booking")
    gate = ConfirmationGate(ctx, tool="cancel_appointment", args={"booking_id": bid})
    if (done := await gate.replay()) is not None:
        return done
    booking = await services.repo.booking_for_customer(customer.id, bid)
    if booking is None or booking.status != "booked":
        raise ToolError(f"I couldn't find an upcoming booking {bid} on this account.")
    readback = (f"Cancel your {booking.slot.service} appointment on "
                f"{speakable_slot(booking.slot.start)}?")

    async def act() -> str:
        try:
            await services.repo.cancel_booking(customer_id=customer.id, booking_id=bid)
        except NotFound:
            raise ToolError("That booking is no longer active, so nothing was changed.") \
                from None
        return f"Cancelled the {booking.slot.service} appointment on " \
               f"{speakable_slot(booking.slot.start)}."

    return await gate.run(readback, act)


# -- support -------------------------------------------------------------------------------------


@function_tool
@audited("write")
async def create_support_ticket(ctx: RunContext[CallState], subject: Text = "",
                                description: Text = "", order_number: Text = "",
                                priority: Text = "normal") -> str:
    """Open a support ticket for the verified caller's problem, for our support team.

    Requires verify_identity first. Two steps enforced by the system: the first call creates
    nothing and returns a read-back; after the caller clearly says yes, call again with the
    same details.

    Args:
        subject: A short title in your own words, e.g. "TV has no sound" (max 120 characters).
        description: What the caller reported, in a few plain sentences (max 1500 characters).
        order_number: The related six-digit order number, if any; otherwise leave empty.
        priority: "low", "normal" or "high". Use "high" only if the caller cannot use a
            product they depend on.
    """
    customer = await require_verified(ctx)
    services = services_of(ctx)
    subj = clean_text(subject, what="ticket subject", max_len=120, min_len=3)
    desc = clean_text(description, what="problem description", max_len=1500, min_len=10)
    prio = clean_text(priority, what="priority", max_len=10, required=False).lower() or "normal"
    if prio not in ("low", "normal", "high"):
        raise ToolError("Priority must be low, normal or high.")
    order_id, number = None, ""
    if str(order_number).strip():
        number = parse_order_number(order_number)
        order = await services.repo.order_for_customer(customer.id, number)
        if order is None:
            raise ToolError(f"I couldn't find order {number} on this account.")
        order_id = order.id
    readback = f"Open a support ticket titled \"{subj}\"" + \
        (f" about order {number}" if order_id else "") + "?"

    async def act() -> str:
        ticket = await services.repo.create_ticket(
            customer_id=customer.id, subject=subj, description=desc, priority=prio,
            order_id=order_id, call_id=ctx.userdata.call_uid)
        return f"Ticket {ticket.id} is open; our support team will follow up within one " \
               "business day."

    return await confirm_then_run(
        ctx, tool="create_support_ticket",
        args={"subject": subj, "description": desc, "order_id": order_id, "priority": prio},
        readback=readback, action=act)


@function_tool
@audited("write")
async def send_sms_confirmation(ctx: RunContext[CallState], booking_id: Text = "") -> str:
    """Text the verified caller a confirmation of one of their appointments.

    Requires verify_identity first. The message always goes to the mobile number on the
    caller's account and its wording is fixed by the system. Two steps enforced by the
    system: the first call sends nothing and returns a read-back; after the caller clearly
    says yes, call again with the same booking number. A message is never sent twice.

    Args:
        booking_id: The booking number to confirm, digits only.
    """
    customer = await require_verified(ctx)
    services = services_of(ctx)
    bid = parse_id(booking_id, what="booking")
    gate = ConfirmationGate(ctx, tool="send_sms_confirmation", args={"booking_id": bid})
    if (done := await gate.replay()) is not None:
        return done
    booking = await services.repo.booking_for_customer(customer.id, bid)
    if booking is None or booking.status != "booked":
        raise ToolError(f"I couldn't find an upcoming booking {bid} on this account.")
    body = (f"{BUSINESS_NAME}: your {booking.slot.service} appointment is confirmed for "
            f"{speakable_slot(booking.slot.start)} at the {booking.slot.location}. "
            f"Booking {booking.id}. Reply STOP to opt out.")[:MAX_SMS_CHARS]
    ending = customer.phone_e164[-4:]
    readback = f"Text a confirmation of booking {booking.id} to your number ending in {ending}?"

    async def act() -> str:
        assert services.sms is not None
        receipt = await services.sms.send(
            to=customer.phone_e164, body=body, customer_id=customer.id,
            idempotency_key=f"{ctx.userdata.call_uid}:sms:booking:{booking.id}")
        if receipt.duplicate:
            return f"That confirmation was already sent to the number ending in {ending}; " \
                   "not sending it again."
        return f"Confirmation text queued to the number ending in {ending}."

    return await gate.run(readback, act)


@function_tool
@audited("write")
async def capture_callback_number(ctx: RunContext[CallState], phone_number: Text = "",
                                  preferred_time: Text = "", reason: Text = "") -> str:
    """Record a request for a colleague to call the caller back. No verification needed.

    Two steps enforced by the system: the first call records nothing and returns a read-back
    of the number; after the caller clearly says yes, call again with the same details.

    Args:
        phone_number: The number to call back, with area code, exactly as the caller said it.
            Leave empty to use the number they are calling from.
        preferred_time: When they'd like the call, in their words (e.g. "tomorrow morning").
        reason: What the callback is about, in one short sentence.
    """
    state = ctx.userdata
    services = services_of(ctx)
    if str(phone_number).strip():
        number = parse_phone(phone_number)
    else:
        caller = normalize_caller_number(state.caller.phone_number)
        if caller is None:
            raise ToolError("I don't have the number they're calling from. Please ask for the "
                            "number to call back, including the area code.")
        number = caller
    when = clean_text(preferred_time, what="preferred time", max_len=80, required=False)
    why = clean_text(reason, what="reason", max_len=300, required=False)
    gate = ConfirmationGate(ctx, tool="capture_callback_number",
                            args={"phone_number": number, "preferred_time": when, "reason": why})
    if (done := await gate.replay()) is not None:
        return done
    if await services.repo.count_callbacks(call_id=state.call_uid) >= MAX_CALLBACKS_PER_CALL:
        raise ToolError("A callback is already booked from this call; a colleague will be in "
                        "touch.")
    readback = f"Call you back on {speakable_phone(number)}" + \
        (f", {when}" if when else "") + "?"

    async def act() -> str:
        await services.repo.create_callback(
            phone_e164=number, customer_id=state.verified_customer_id,
            preferred_time=when or None, reason=why or None, call_id=state.call_uid)
        return f"Callback request saved for {speakable_phone(number)}" + \
            (f", {when}" if when else "") + ". A colleague will call back."

    return await gate.run(readback, act)


BUSINESS_TOOLS = [
    lookup_customer,
    verify_identity,
    check_order_status,
    list_available_slots,
    list_my_appointments,
    book_appointment,
    reschedule_appointment,
    cancel_appointment,
    create_support_ticket,
    send_sms_confirmation,
    capture_callback_number,
]
