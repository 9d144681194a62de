"""Repository tests, run on SQLite and on a real PostgreSQL (started by a fixture)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from agent.data.db import Database, IntegrityError, translate_placeholders
from agent.data.repository import (
    AuditEntry,
    NotFound,
    Repository,
    SlotUnavailable,
    check_pin,
    hash_pin,
)
from agent.data.schema import MIGRATIONS, current_version, migrate
from agent.data.seed import reset, seed
from agent.data.sql import Tx
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401

MARIA, JAMES = "+14155550142", "+14155550187"


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/nested/dir/test.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await asyncio.to_thread(server.create_database, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def repo(db_url: str) -> AsyncIterator[Repository]:
    r = await Repository.open(db_url)
    await seed(r)
    try:
        yield r
    finally:
        await r.close()


async def _slot_ids(repo: Repository, n: int = 3) -> list[int]:
    tomorrow = date.today() + timedelta(days=1)
    slots = await repo.available_slots(date_from=tomorrow.isoformat(),
                                       date_to=(tomorrow + timedelta(days=20)).isoformat(),
                                       service="device repair", limit=n)
    assert len(slots) == n
    return [s.id for s in slots]


def test_placeholder_translation() -> None:
    sql = "SELECT * FROM t WHERE a = ? AND b LIKE '50%?' AND c = ?"
    assert translate_placeholders(sql) == \
        "SELECT * FROM t WHERE a = %s AND b LIKE '50%%?' AND c = %s"


def test_pin_hash_round_trip() -> None:
    stored = hash_pin("2468")
    assert stored.startswith("pbkdf2_sha256$") and "2468" not in stored
    assert check_pin("2468", stored)
    assert not check_pin("2469", stored)
    assert not check_pin("2468", None)
    assert not check_pin("2468", "garbage")


async def test_sqlite_file_and_directory_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "phone.db"
    db = await Database.open(f"sqlite:///{path}")
    await db.close()
    assert path.exists()


async def test_migrations_versioned_and_idempotent(db_url: str) -> None:
    db = await Database.open(db_url)
    try:
        assert await current_version(db) == max(m.version for m in MIGRATIONS)
        assert await migrate(db) == []  # nothing left to apply
    finally:
        await db.close()
    db = await Database.open(db_url)  # re-open: still fine, no duplicate DDL
    try:
        rows = await db.fetchall("SELECT version FROM schema_migrations")
        assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]
    finally:
        await db.close()


@pytest.mark.parametrize("done", [(1, 2, 4), (1, 2, 3)], ids=["main-at-4", "issue-9-at-3"])
async def test_a_database_missing_a_lower_version_gets_it(db_url: str,
                                                          done: tuple[int, ...]) -> None:
    """Two branches added migrations 3 and 4 independently: a database at 4 without 3 (or at
    3 without 4) gets the one it lacks, and ends like a fresh one."""
    db = await Database.open(db_url, migrate=False)
    try:
        assert await migrate(db, tuple(m for m in MIGRATIONS if m.version in done)) \
            == list(done)
        missing = [m.version for m in MIGRATIONS if m.version not in done]
        assert await migrate(db) == missing
        rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == sorted(m.version for m in MIGRATIONS)
        for table in ("verification_failures", "do_not_call", "outbound_attempts",
                      "webhook_outbox"):
            assert await db.fetchall(f"SELECT * FROM {table}") == []
        assert await db.fetchall("SELECT caller_key, recording_uri, summary FROM calls") == []
    finally:
        await db.close()


async def test_seed_is_idempotent_and_reset_works(repo: Repository) -> None:
    from agent.data.seed import counts

    before = await counts(repo)
    assert before["customers"] == 6 and before["orders"] == 9
    assert before["appointment_slots"] > 50 and before["bookings"] == 3
    assert await seed(repo) == before
    await reset(repo)
    assert (await counts(repo))["customers"] == 0
    assert await seed(repo) == before


async def test_customers_by_phone(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    assert maria is not None and maria.first_name == "Maria"
    assert maria.date_of_birth == "1985-03-14"
    assert check_pin("2468", maria.pin_hash)
    assert await repo.customer_by_phone("+19999999999") is None
    assert await repo.customer_by_phone("' OR 1=1 --") is None


async def test_orders_are_scoped_to_their_customer(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    james = await repo.customer_by_phone(JAMES)
    assert maria and james
    own = await repo.order_for_customer(maria.id, "100231")
    assert own is not None and own.status == "shipped"
    assert await repo.order_for_customer(james.id, "100231") is None  # exists, not James's
    recent = await repo.orders_for_customer(maria.id, limit=5)
    assert [o.order_number for o in recent][:2] == ["100245", "100231"]
    assert all(o.customer_id == maria.id for o in recent)


async def test_booking_and_double_booking_is_impossible(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    james = await repo.customer_by_phone(JAMES)
    assert maria and james
    slot_id = (await _slot_ids(repo, 1))[0]
    booking = await repo.book(customer_id=maria.id, slot_id=slot_id, call_id="c1")
    assert booking.status == "booked" and booking.slot.id == slot_id
    assert not await repo.is_slot_free(slot_id)
    with pytest.raises(SlotUnavailable):
        await repo.book(customer_id=james.id, slot_id=slot_id)
    with pytest.raises(SlotUnavailable):
        await repo.book(customer_id=maria.id, slot_id=slot_id)
    # The UNIQUE index holds even for SQL that bypasses the repository's checks.
    with pytest.raises(IntegrityError):
        await repo.db.execute(
            "INSERT INTO bookings (slot_id, customer_id, status, created_at)"
            " VALUES (?, ?, 'booked', 'x')", (slot_id, james.id))
    free = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=500)
    assert slot_id not in [s.id for s in free]


async def test_concurrent_bookings_from_two_connections(db_url: str) -> None:
    a, b = await Repository.open(db_url), await Repository.open(db_url)
    try:
        await seed(a)
        maria = await a.customer_by_phone(MARIA)
        james = await a.customer_by_phone(JAMES)
        assert maria and james
        slot_id = (await _slot_ids(a, 1))[0]
        results = await asyncio.gather(
            a.book(customer_id=maria.id, slot_id=slot_id),
            b.book(customer_id=james.id, slot_id=slot_id),
            return_exceptions=True)
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert sum(isinstance(r, SlotUnavailable) for r in results) == 1
    finally:
        await a.close()
        await b.close()


async def test_past_and_unknown_slots_cannot_be_booked(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    assert maria
    past = await repo.add_slot(
        starts_at=(datetime.now() - timedelta(days=1)).strftime("%Y-%m-%d 10:00"),
        duration_min=30, service="device repair", location="Market Street service centre")
    with pytest.raises(SlotUnavailable):
        await repo.book(customer_id=maria.id, slot_id=past.id)
    with pytest.raises(NotFound):
        await repo.book(customer_id=maria.id, slot_id=987654)
    free = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=500)
    assert past.id not in [s.id for s in free]


async def test_cancel_and_reschedule_only_own_bookings(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    james = await repo.customer_by_phone(JAMES)
    assert maria and james
    s1, s2, s3 = await _slot_ids(repo, 3)
    booking = await repo.book(customer_id=maria.id, slot_id=s1)
    with pytest.raises(NotFound):
        await repo.cancel_booking(customer_id=james.id, booking_id=booking.id)
    assert await repo.booking_for_customer(james.id, booking.id) is None
    with pytest.raises(NotFound):
        await repo.reschedule_booking(customer_id=james.id, booking_id=booking.id,
                                      new_slot_id=s2)

    moved = await repo.reschedule_booking(customer_id=maria.id, booking_id=booking.id,
                                          new_slot_id=s2)
    assert moved.slot_id == s2 and moved.rescheduled_from == booking.id
    old = await repo.booking_for_customer(maria.id, booking.id)
    assert old is not None and old.status == "cancelled"
    assert await repo.is_slot_free(s1)

    # Rescheduling onto a taken slot is atomic: the original booking stays.
    other = await repo.book(customer_id=james.id, slot_id=s3)
    with pytest.raises(SlotUnavailable):
        await repo.reschedule_booking(customer_id=maria.id, booking_id=moved.id, new_slot_id=s3)
    still = await repo.booking_for_customer(maria.id, moved.id)
    assert still is not None and still.status == "booked"

    cancelled = await repo.cancel_booking(customer_id=maria.id, booking_id=moved.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(NotFound):  # already cancelled
        await repo.cancel_booking(customer_id=maria.id, booking_id=moved.id)
    again = await repo.book(customer_id=james.id, slot_id=s2)  # a freed slot can be rebooked
    assert again.status == "booked" and other.status == "booked"


async def test_tickets_callbacks_and_sms_outbox(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    assert maria
    ticket = await repo.create_ticket(customer_id=maria.id, subject="TV has no sound",
                                      description="'; DROP TABLE support_tickets; --")
    assert ticket.status == "open"
    assert (await repo.tickets_for_customer(maria.id))[0].description.startswith("';")

    msg, created = await repo.enqueue_sms(recipient=MARIA, body="Hello", idempotency_key="k1",
                                          customer_id=maria.id)
    dup, created_again = await repo.enqueue_sms(recipient=MARIA, body="Hello",
                                                idempotency_key="k1", customer_id=maria.id)
    assert created and not created_again and dup.id == msg.id
    assert len(await repo.outbox()) == 1
    await repo.mark_outbox_sent(msg.id, "prov-1")
    assert (await repo.outbox(status="sent"))[0].id == msg.id

    cb = await repo.create_callback(phone_e164=MARIA, customer_id=maria.id,
                                    preferred_time="tomorrow morning", call_id="call-9")
    assert cb.status == "open"
    assert await repo.count_callbacks(call_id="call-9") == 1


async def test_audit_log_and_idempotency_keys(repo: Repository) -> None:
    await repo.write_audit(AuditEntry(call_id="c1", caller="+1•••42", customer_id=None,
                                      tool="lookup_customer", arguments="{}", outcome="ok",
                                      result="fine", latency_ms=3))
    entries = await repo.audit_entries(call_id="c1")
    assert len(entries) == 1 and entries[0].tool == "lookup_customer" and entries[0].at

    ran: list[str] = []

    def work(tx: Tx) -> str:
        ran.append("x")
        tx.execute("INSERT INTO callback_requests (phone_e164, status, created_at)"
                   " VALUES ('+12025550100', 'open', 'now')")
        return "Booked."

    assert await repo.run_once("key", tool="t", call_id="c1", work=work) == \
        (True, "Booked.", "done")
    assert await repo.idempotency_result("key") == ("done", "Booked.")
    # Once recorded, the key answers with its result and nothing runs again.
    assert await repo.run_once("key", tool="t", call_id="c1", work=work) == \
        (False, "Booked.", "done")
    assert ran == ["x"] and len(await repo.callbacks()) == 1

    def failing(tx: Tx) -> str:
        tx.execute("INSERT INTO callback_requests (phone_e164, status, created_at)"
                   " VALUES ('+12025550101', 'open', 'now')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await repo.run_once("k2", tool="t", call_id="c1", work=failing)
    # Neither the change nor the key survived the failure.
    assert await repo.idempotency_result("k2") is None and len(await repo.callbacks()) == 1
