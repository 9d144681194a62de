"""Text messages to the verified caller: fixed wording, always to the number on file."""

from __future__ import annotations

from livekit.agents import RunContext, function_tool

from agent.call_state import CallState
from agent.data.sms import MAX_SMS_CHARS
from agent.data.sql import Tx
from agent.phones import last_digits
from agent.prompts import COMPANY as BUSINESS_NAME  # the SMS signs as callers hear us greet

from .appointments import upcoming_booking
from .audit import audited
from .confirmation import Prepared, confirmed_action
from .services import services_of
from .validation import Text, parse_id
from .verification import require_verified
from .wording import speakable_slot

__all__ = ["BUSINESS_NAME", "send_sms_confirmation"]


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
    customer = await require_verified(ctx, change=True)
    services = services_of(ctx)
    bid = parse_id(booking_id, what="booking")

    async def prepare() -> Prepared:
        booking = await upcoming_booking(services.repo, customer.id, bid)
        body = (f"{BUSINESS_NAME}: your {booking.slot.service} appointment is confirmed for "
                f"{speakable_slot(booking.slot.start)} at the {booking.slot.location}. "
                f"Booking {booking.id}. Reply STOP to opt out.")[:MAX_SMS_CHARS]
        ending = last_digits(customer.phone_e164)

        def send(tx: Tx) -> str:
            # The outbox row commits with the confirmation's idempotency record; the relay
            # (agent.data.sms.relay_outbox) hands it to the SMS provider.
            _, created = services.repo.enqueue_sms_in(
                tx, recipient=customer.phone_e164, body=body, customer_id=customer.id,
                idempotency_key=f"{ctx.userdata.call_uid}:sms:booking:{booking.id}")
            if not created:
                return f"That confirmation was already sent to the number ending in {ending}; " \
                       "not sending it again."
            return f"Confirmation text queued to the number ending in {ending}."

        return Prepared(f"Text a confirmation of booking {booking.id} to your number ending in "
                        f"{ending}?", send)

    return await confirmed_action(ctx, tool="send_sms_confirmation", args={"booking_id": bid},
                                  prepare=prepare)
