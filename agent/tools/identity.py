"""Tools that tell the agent how to verify a caller, and verify them.

Neither says whether the calling number belongs to a customer (see `verification`)."""

from __future__ import annotations

from livekit.agents import RunContext, function_tool

from agent.call_state import CallState

from .audit import audited
from .services import services_of
from .validation import Text
from .verification import check_identity, require_verified

HOW_TO_VERIFY = (
    "The caller is not verified. Before any account detail, ask for their date of birth, or "
    "to type their PIN on the keypad and press pound, and call verify_identity. Without "
    "verification you can still list appointment times, take a callback number, or transfer "
    "them.")


@function_tool
@audited("read")
async def lookup_customer(ctx: RunContext[CallState]) -> str:
    """Check whether the caller is verified, and how to verify them.

    Call this early in the call, before any account question. It never reveals account
    details, and it never says whether an account exists for the caller's number: only
    verify_identity can tell, by succeeding.
    """
    if ctx.userdata.verified_customer_id is not None:
        verified = await require_verified(ctx)
        return f"The caller is already verified as {verified.full_name}."
    return HOW_TO_VERIFY


@function_tool
@audited("read")
async def verify_identity(ctx: RunContext[CallState], date_of_birth: Text = "",
                          pin: Text = "") -> str:
    """Verify the caller against the account that matches their phone line.

    Ask the caller for their date of birth, or to type their account PIN on the keypad and
    press pound. Pass exactly what they said; never guess or fill in values yourself. If they
    typed the PIN on the keypad, call this with no arguments: the typed digits are read
    automatically (you are never shown them). After too many failed attempts verification is
    locked; then offer a callback or a transfer.

    Args:
        date_of_birth: The caller's date of birth as YYYY-MM-DD, converted from what they said
            (e.g. "March 14th 1985" becomes "1985-03-14").
        pin: The account PIN the caller spoke (4 to 8 digits). Leave empty when they typed it.
    """
    state = ctx.userdata
    services = services_of(ctx)
    typed = "".join(ch for ch in state.dtmf_buffer if ch.isdigit())
    state.dtmf_buffer = ""  # consumed (or stale) either way
    if not str(pin).strip() and not str(date_of_birth).strip() and typed:
        pin = typed
    verified = await check_identity(services.repo, state, pin=pin, date_of_birth=date_of_birth,
                                    today=services.today())
    customer = verified.customer
    state.verified_customer_id = customer.id
    state.verified_with_pin = verified.with_pin
    answer = (f"Verified. The caller is {customer.full_name}; you may address them as "
              f"{customer.first_name} and help with their own account.")
    if customer.pin_hash and not verified.with_pin:
        answer += (" Changes to this account (bookings, tickets, texts) will also need their "
                   "PIN on the keypad.")
    return answer
