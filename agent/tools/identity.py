"""Tools that find the caller's account and verify that the caller owns it."""

from __future__ import annotations

from livekit.agents import RunContext, ToolError, function_tool

from agent.call_state import CallState
from agent.phones import normalize_caller_number

from .audit import audited
from .services import services_of
from .validation import Text
from .verification import (
    NotAllowed,
    check_pin_or_dob,
    count_failure,
    refuse_if_locked,
    require_verified,
)


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
        verified = await require_verified(ctx)
        return f"The caller is already verified as {verified.full_name}."
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
    refuse_if_locked(state)
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
    count_failure(state)
