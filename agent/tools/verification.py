"""Who may see or change account data: the verified caller, on the number on file.

* Finding the account - only from the caller's number as the SIP bridge reports it, in E.164
  (`agent.phones.normalize_caller_number`). Caller ID is a hint, not proof: it only says
  which account a date of birth or PIN is checked against.
* Checking - `check_identity` answers a wrong date of birth, a number with no account and an
  account that is locked with the same words, after the same work (one PIN hash, one date
  comparison and the same queries in every case), so no answer tells whether a number is a
  customer's.
* Lockout - failures are stored in the database per customer and per calling number
  (`Repository.record_verification_failure`); `MAX_VERIFICATION_FAILURES` within
  `LOCKOUT_WINDOW` lock further checks across calls. A check against a locked account fails
  whatever was said (so the lock can't be used as an oracle) and is audited as `locked`.
* Scope - `require_verified` returns the verified customer; changes to an account that has a
  PIN need `require_verified(ctx, change=True)`: verified with the PIN, not only the date of
  birth. Repository queries are scoped to that id in SQL, so no argument the model passes can
  reach another customer's data.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, timedelta

from livekit.agents import RunContext, ToolError

from agent.call_state import CallState
from agent.data.lockouts import customer_subject, number_subject
from agent.data.repository import Customer, Repository, check_pin, hash_pin
from agent.phones import normalize_caller_number

from .audit import note_outcome
from .errors import NotAllowed
from .services import services_of
from .validation import parse_birth_date, parse_pin

__all__ = ["NotAllowed", "Verified", "check_identity", "require_verified"]

MAX_VERIFICATION_FAILURES = 3
LOCKOUT_WINDOW = timedelta(hours=24)

# Checked when there is no PIN to check, so every attempt costs one PBKDF2 hash.
_DUMMY_PIN_HASH = hash_pin("not-a-pin")
_DUMMY_DOB = "0000-00-00"

NO_MATCH = ("That doesn't match our records. The caller has {left} more {tries}; if they "
            "can't verify, offer a callback or a transfer to a colleague.")
LOCKED = ("Verification is locked after too many attempts. Don't ask for more details: offer "
          "a callback or a transfer to a colleague, who can help another way.")
NO_CALLER_ID = ("I can only verify callers phoning from the number on their account, and this "
                "call shows no usable number. Offer a callback or a transfer instead.")


async def require_verified(ctx: RunContext[CallState], *, change: bool = False) -> Customer:
    """The verified caller's customer record, or a refusal the agent can say.

    `change=True` for tools that change the account: when the customer has a PIN, a caller
    verified by date of birth only is refused until they give the PIN."""
    state = ctx.userdata
    if state.verified_customer_id is None:
        raise NotAllowed("I need to verify the caller before I can look at or change account "
                         "details. Ask for their date of birth or their keypad PIN.")
    customer = await services_of(ctx).repo.customer_by_id(state.verified_customer_id)
    caller = normalize_caller_number(state.caller.phone_number)
    if customer is None or caller != customer.phone_e164:
        # The verified identity must still belong to the number on the line.
        state.verified_customer_id = None
        state.verified_with_pin = False
        raise NotAllowed("I can't confirm the caller's identity any more. Please verify again.")
    if change and customer.pin_hash and not state.verified_with_pin:
        raise NotAllowed("Changes to this account need the caller's PIN as well. Ask them to "
                         "type it on the keypad and press pound, then call verify_identity.")
    return customer


@dataclass(frozen=True)
class Verified:
    customer: Customer
    with_pin: bool


def _factors_match(customer: Customer | None, *, pin: str, dob: str) -> bool:
    """Every factor given matches `customer` (None: nothing can match). Always one PBKDF2
    hash and one date comparison, whichever factors were given and whether there is an
    account, so the time taken says nothing either."""
    stored_hash = customer.pin_hash if customer is not None and customer.pin_hash else None
    pin_ok = check_pin(pin or "0000", stored_hash or _DUMMY_PIN_HASH) and stored_hash is not None
    stored_dob = customer.date_of_birth if customer is not None else _DUMMY_DOB
    dob_ok = hmac.compare_digest(dob or _DUMMY_DOB, stored_dob) and customer is not None
    return customer is not None and (pin_ok or not pin) and (dob_ok or not dob)


async def check_identity(repo: Repository, state: CallState, *, pin: str, date_of_birth: str,
                         today: date) -> Verified:
    """Check the given factors against the account of the calling number, counting failures.

    Raises `ToolError` (formats, nothing given) or `NotAllowed` (no caller number, locked);
    a failure says only "doesn't match", with the tries left on this line."""
    number = normalize_caller_number(state.caller.phone_number)
    if number is None:
        raise NotAllowed(NO_CALLER_ID)
    pin = parse_pin(pin) if str(pin).strip() else ""
    dob = parse_birth_date(date_of_birth, today=today).isoformat() \
        if str(date_of_birth).strip() else ""
    if not pin and not dob:
        raise ToolError("Ask the caller for their date of birth, or to type their PIN on the "
                        "keypad, then try again.")
    customer = await repo.customer_by_phone(number)
    subjects = [number_subject(number),
                customer_subject(customer.id if customer is not None else None)]
    line_failures, account_failures = await repo.verification_failures(
        subjects, within=LOCKOUT_WINDOW)
    if line_failures >= MAX_VERIFICATION_FAILURES:
        note_outcome("locked")
        raise NotAllowed(LOCKED)
    account_locked = customer is not None and account_failures >= MAX_VERIFICATION_FAILURES
    matched = _factors_match(customer, pin=pin, dob=dob)
    if matched and not account_locked and customer is not None:
        await repo.clear_verification_failures(subjects)
        return Verified(customer, with_pin=bool(pin))
    await repo.record_verification_failure(subjects, within=LOCKOUT_WINDOW)
    if account_locked:
        note_outcome("locked")  # audited; the caller hears what any failure sounds like
    left = MAX_VERIFICATION_FAILURES - line_failures - 1
    if left <= 0:
        raise NotAllowed(LOCKED)
    raise ToolError(NO_MATCH.format(left=left, tries="try" if left == 1 else "tries"))
