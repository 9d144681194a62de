"""Load realistic demo data: `python -m agent.data.seed [--database-url URL] [--reset]`.

Idempotent: rows are matched on natural keys (phone number, order number, slot time), so
running it twice changes nothing. `--reset` deletes all business data (including the audit
log) first. Dates are relative to today, so there are always free slots in the next two weeks.

Demo callers (numbers are from ranges reserved for fiction; PINs are for the demo only):

    Maria Alvarez    +14155550142  born 1985-03-14  PIN 2468
    James O'Connor   +14155550187  born 1978-11-02  PIN 1357
    Priya Raman      +16175550123  born 1992-07-21  PIN 8024
    Daniel Kim       +12125550199  born 1969-01-30  PIN 5791
    Sophie Martin    +447700900123 born 1990-05-05  PIN 3141
    Tomás Herrera    +13055550111  born 2001-09-09  (no PIN: date of birth only)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .repository import Repository, SlotUnavailable
from .schema import BUSINESS_TABLES
from .sql import Tx

DEFAULT_URL = "sqlite:///.state/phone-agent.db"
LOCATION = "Market Street service centre"
SERVICES = {
    # service: (duration in minutes, start times)
    "device repair": (30, ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
                           "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00"]),
    "installation consultation": (60, ["10:00", "13:00", "15:00"]),
}

CUSTOMERS = [
    # name, phone, date of birth, email, PIN
    ("Maria Alvarez", "+14155550142", "1985-03-14", "maria.alvarez@example.com", "2468"),
    ("James O'Connor", "+14155550187", "1978-11-02", "james.oconnor@example.net", "1357"),
    ("Priya Raman", "+16175550123", "1992-07-21", "priya.raman@example.org", "8024"),
    ("Daniel Kim", "+12125550199", "1969-01-30", "dkim@example.com", "5791"),
    ("Sophie Martin", "+447700900123", "1990-05-05", "sophie.martin@example.co.uk", "3141"),
    ("Tomás Herrera", "+13055550111", "2001-09-09", None, None),
]


@dataclass(frozen=True)
class _Order:
    number: str
    phone: str
    status: str
    items: str
    total_cents: int
    placed_days_ago: int
    delivery_in_days: int | None
    carrier: str | None = None
    tracking: str | None = None


ORDERS = [
    _Order("100231", "+14155550142", "shipped", "Aurora 55-inch 4K TV", 64900, 3, 2,
           "UPS", "1Z999AA10123456784"),
    _Order("100245", "+14155550142", "processing", "Soundbar SB-300 and wall mount", 27950, 1, 5),
    _Order("100188", "+14155550142", "delivered", "USB-C charging cable, 2 m", 1999, 30, None,
           "USPS", "9400111899223334445566"),
    _Order("100302", "+14155550187", "out_for_delivery", "Nimbus X2 laptop", 129900, 4, 0,
           "FedEx", "794698512345"),
    _Order("100315", "+16175550123", "processing", "Robot vacuum R7", 39900, 0, 6),
    _Order("100276", "+12125550199", "cancelled", "Espresso machine EM-10", 54900, 12, None),
    _Order("100290", "+12125550199", "delivered", "Wireless earbuds Pro", 17900, 9, None,
           "UPS", "1Z999AA10123459999"),
    _Order("100333", "+447700900123", "shipped", "Smart thermostat T3", 21900, 2, 3,
           "DHL", "JD014600006281234567"),
    _Order("100341", "+13055550111", "returned", "Gaming headset H5", 8900, 20, None),
]


async def seed(repo: Repository, *, today: date | None = None, days: int = 14) -> dict[str, int]:
    """Insert demo data (idempotent); returns counts of rows present afterwards."""
    today = today or repo.clock().date()
    ids: dict[str, int] = {}
    for name, phone, dob, email, pin in CUSTOMERS:
        customer = await repo.upsert_customer(full_name=name, phone_e164=phone,
                                              date_of_birth=dob, email=email, pin=pin)
        ids[phone] = customer.id

    for o in ORDERS:
        placed = today - timedelta(days=o.placed_days_ago)
        delivery = (today + timedelta(days=o.delivery_in_days)).isoformat() \
            if o.delivery_in_days is not None else None
        await repo.add_order(customer_id=ids[o.phone], order_number=o.number, status=o.status,
                             item_summary=o.items, total_cents=o.total_cents,
                             placed_at=placed.isoformat(), expected_delivery=delivery,
                             carrier=o.carrier, tracking_number=o.tracking)

    first_slots = []
    for offset in range(1, days + 1):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:  # closed at weekends
            continue
        for service, (duration, times) in SERVICES.items():
            for hhmm in times:
                slot = await repo.add_slot(starts_at=f"{day.isoformat()} {hhmm}",
                                           duration_min=duration, service=service,
                                           location=LOCATION)
                if service == "device repair":
                    first_slots.append(slot)

    # A few existing bookings, so reschedule/cancel can be tried straight away.
    demo_bookings = [("+14155550142", 2), ("+14155550187", 5), ("+16175550123", 9)]
    for phone, index in demo_bookings:
        if index >= len(first_slots):
            continue
        existing = await repo.bookings_for_customer(ids[phone])
        if existing:
            continue
        try:
            await repo.book(customer_id=ids[phone], slot_id=first_slots[index].id,
                            call_id="seed")
        except SlotUnavailable:
            pass
    return await counts(repo)


async def counts(repo: Repository) -> dict[str, int]:
    out = {}
    for table in ("customers", "orders", "appointment_slots", "bookings"):
        row = await repo.db.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
        out[table] = int(row["n"]) if row else 0
    return out


async def reset(repo: Repository) -> None:
    """Delete all business data (children first); the schema stays."""

    def work(tx: Tx) -> None:
        for table in BUSINESS_TABLES:
            tx.execute(f"DELETE FROM {table}")

    await repo.db.transaction(work)


async def _main(url: str, do_reset: bool) -> dict[str, int]:
    repo = await Repository.open(url)
    try:
        if do_reset:
            await reset(repo)
        return await seed(repo)
    finally:
        await repo.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.data.seed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL,
                        help="sqlite:///path or postgresql://... (default: $DATABASE_URL or "
                             f"{DEFAULT_URL})")
    parser.add_argument("--reset", action="store_true",
                        help="delete all business data (and the audit log) before seeding")
    args = parser.parse_args(argv)
    started = datetime.now()
    result = asyncio.run(_main(args.database_url, args.reset))
    elapsed = (datetime.now() - started).total_seconds()
    summary = ", ".join(f"{n} {t}" for t, n in result.items())
    print(f"seeded {summary} in {elapsed:.1f}s", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
