"""The right to erasure: remove everything the call records hold about one caller.

    python -m agent.data.forget --phone +14155550142
    python -m agent.data.forget --customer 17

Finds the caller's calls by the keyed hash of their number stored with each call
(`calls.caller_key`, see agent/phones.py; the database holds no number to search), and, when
the caller has an account, also by the account: calls its bookings, tickets, callback requests
and audit rows name. Those calls are removed whole (recording file, transcript, events,
summary and outcome, webhook deliveries, idempotency keys, the call row), and the caller's
audit rows are anonymized (caller, account, arguments and result cleared; which tool ran,
its outcome and latency stay). It prints what it removed.

Business records (the customer account, bookings, tickets, callback requests, the SMS
outbox) are not touched here: they follow the business's own erasure process.
Exit codes: 0 done, 1 something could not be removed (named; run again), 2 bad input.
"""

from __future__ import annotations

import argparse

from ..config import Settings
from ..phones import caller_key, erasure_e164
from ..recording.store import open_store
from .erase import ErasureReport, erase_calls, run_command
from .repository import Repository


async def forget(repo: Repository, settings: Settings, *, phone: str | None = None,
                 customer_id: int | None = None) -> ErasureReport:
    """Erase one caller, named by number or by account (ValueError if neither resolves)."""
    report = ErasureReport("erased for the caller" if customer_id is None
                           else f"erased for customer {customer_id}")
    if customer_id is not None:
        customer = await repo.customer_by_id(customer_id)
        if customer is None:
            raise ValueError(f"no customer {customer_id}")
        phone = customer.phone_e164
    else:
        e164 = erasure_e164(phone)
        if e164 is None:
            raise ValueError(f"not a phone number: {phone!r}")
        phone = e164
        customer = await repo.customer_by_phone(e164)
        customer_id = customer.id if customer is not None else None
    calls = await repo.calls_of(caller_key=caller_key(phone, settings.caller_key_secret),
                                customer_id=customer_id)
    await erase_calls(repo, lambda: open_store(settings), calls, report)
    report.erased.audit_rows = await repo.anonymize_audit(customer_id=customer_id,
                                                          calls=calls)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.data.forget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="the caller's number, e.g. +14155550142")
    who.add_argument("--customer", type=int, help="the customer account id")
    args = parser.parse_args(argv)
    return run_command(lambda repo, settings: forget(repo, settings, phone=args.phone,
                                                     customer_id=args.customer))


if __name__ == "__main__":
    raise SystemExit(main())
