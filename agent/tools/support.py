"""Support tools: a ticket for the verified caller's problem, a callback for anyone.

Both change state, so both go through `confirmed_action`."""

from __future__ import annotations

from livekit.agents import RunContext, ToolError, function_tool

from agent.call_state import CallState
from agent.data.sql import Tx
from agent.phones import (
    diallable_e164,
    normalize_caller_number,
    parse_diallable,
    speakable_phone,
)

from .audit import audited
from .confirmation import Prepared, confirmed_action
from .services import services_of
from .validation import Text, as_text, clean_text, parse_order_number
from .verification import require_verified

MAX_CALLBACKS_PER_CALL = 2


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
    customer = await require_verified(ctx, change=True)
    repo = services_of(ctx).repo
    subj = clean_text(subject, what="ticket subject", max_len=120, min_len=3)
    desc = clean_text(description, what="problem description", max_len=1500, min_len=10)
    prio = clean_text(priority, what="priority", max_len=10, required=False).lower() or "normal"
    if prio not in ("low", "normal", "high"):
        raise ToolError("Priority must be low, normal or high.")
    number = parse_order_number(order_number) if str(order_number).strip() else ""

    async def prepare() -> Prepared:
        order_id: int | None = None
        if number:
            order = await repo.order_for_customer(customer.id, number)
            if order is None:
                raise ToolError(f"I couldn't find order {number} on this account.")
            order_id = order.id

        def open_ticket(tx: Tx) -> str:
            ticket = repo.create_ticket_in(
                tx, customer_id=customer.id, subject=subj, description=desc, priority=prio,
                order_id=order_id, call_id=ctx.userdata.call_uid)
            return f"Ticket {ticket.id} is open; our support team will follow up within one " \
                   "business day."

        about = f" about order {number}" if order_id else ""
        return Prepared(f"Open a support ticket titled \"{subj}\"{about}?", open_ticket)

    # The fingerprint names the order by its number, not its id: the replay check comes
    # before the lookup that finds the id (a number names one order of the caller's).
    return await confirmed_action(
        ctx, tool="create_support_ticket",
        args={"subject": subj, "description": desc, "order_number": number or None,
              "priority": prio},
        prepare=prepare)


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
    repo = services_of(ctx).repo
    if str(phone_number).strip():
        number = parse_diallable(as_text(phone_number))  # no premium-rate or special numbers
    else:
        caller = diallable_e164(normalize_caller_number(state.caller.phone_number))
        if caller is None:
            raise ToolError("I don't have a number I can call them back on. Please ask for the "
                            "number to call back, including the area code.")
        number = caller
    when = clean_text(preferred_time, what="preferred time", max_len=80, required=False)
    why = clean_text(reason, what="reason", max_len=300, required=False)
    spoken = speakable_phone(number) + (f", {when}" if when else "")

    async def prepare() -> Prepared:
        if await repo.count_callbacks(call_id=state.call_uid) >= MAX_CALLBACKS_PER_CALL:
            raise ToolError("A callback is already booked from this call; a colleague will be "
                            "in touch.")

        def save(tx: Tx) -> str:
            repo.create_callback_in(
                tx, phone_e164=number, customer_id=state.verified_customer_id,
                preferred_time=when or None, reason=why or None, call_id=state.call_uid)
            return f"Callback request saved for {spoken}. A colleague will call back."

        return Prepared(f"Call you back on {spoken}?", save)

    return await confirmed_action(
        ctx, tool="capture_callback_number",
        args={"phone_number": number, "preferred_time": when, "reason": why}, prepare=prepare)
