"""Who may see or change account data: the verified caller, on the number on file.

`require_verified` returns the customer whose phone number matched the SIP caller and who
passed a date-of-birth or PIN check (`CallState.verified_customer_id`, set only by
`verify_identity`). Repository queries are scoped to that id in SQL, so no argument the model
passes can reach another customer's data.
"""

from __future__ import annotations

import hmac
from datetime import date
from typing import NoReturn

from livekit.agents import RunContext, ToolError

from agent.call_state import CallState
from agent.data.repository import Customer, check_pin
from agent.phones import normalize_caller_number

from .services import services_of
from .validation import parse_birth_date, parse_pin

MAX_VERIFICATION_FAILURES = 3


class NotAllowed(ToolError):
    """The caller is not allowed to do this (not verified, not their record, locked)."""


async def require_verified(ctx: RunContext[CallState]) -> Customer:
    """The verified caller's customer record, or a refusal the agent can say."""
    state = ctx.userdata
    if state.verified_customer_id is None:
        raise NotAllowed("I need to verify the caller before I can look at or change account "
                         "details. Ask for their date of birth or their keypad PIN.")
    customer = await services_of(ctx).repo.customer_by_id(state.verified_customer_id)
    caller = normalize_caller_number(state.caller.phone_number)
    if customer is None or caller != customer.phone_e164:
        # The verified identity must still belong to the number on the line.
        state.verified_customer_id = None
        raise NotAllowed("I can't confirm the caller's identity any more. Please verify again.")
    return customer


def check_pin_or_dob(customer: Customer, *, pin: str, date_of_birth: str, today: date) -> bool:
    """True when every factor given matches (malformed values raise `ToolError` first)."""
    checks: list[bool] = []
    if str(pin).strip():
        checks.append(check_pin(parse_pin(pin), customer.pin_hash))
    if str(date_of_birth).strip():
        given = parse_birth_date(date_of_birth, today=today).isoformat()
        checks.append(hmac.compare_digest(given, customer.date_of_birth))
    return bool(checks) and all(checks)


def refuse_if_locked(state: CallState) -> None:
    """After `MAX_VERIFICATION_FAILURES` failed checks, no more attempts in this call."""
    if state.verification_failures >= MAX_VERIFICATION_FAILURES:
        raise NotAllowed("Verification is locked for this call after too many attempts. Offer a "
                         "callback or a transfer to a colleague.")


def count_failure(state: CallState) -> NoReturn:
    """Record one failed check and refuse, saying how many tries are left (or that it's locked)."""
    state.verification_failures += 1
    left = MAX_VERIFICATION_FAILURES - state.verification_failures
    if left <= 0:
        raise NotAllowed("That doesn't match our records, and verification is now locked for "
                         "this call. Offer a callback or a transfer to a colleague.")
    raise ToolError(f"That doesn't match our records. The caller has {left} more "
                    f"{'try' if left == 1 else 'tries'}.")
