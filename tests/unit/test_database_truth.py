"""Issue 9, telling the truth when the database fails: a change and its idempotency record
commit together; a locked SQLite database answers within about two seconds; a database that is
down at call start leaves the call going, and its record is written once it is back."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from livekit.agents import ToolError

from agent import tools as business
from agent.call import ProcessResources
from agent.call_state import CallerInfo, CallState
from agent.config import load_settings
from agent.data.repository import Repository
from agent.observability.record_sink import RecordSink
from agent.tools.audit import GENERIC_FAILURE
from tests.support.tool_ctx import MARIA, call, make_ctx, verified_ctx

GOOD = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 40, "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789", "ELEVEN_API_KEY": "el-0123456789",
}


@pytest.fixture
async def repo(seeded_repo: Repository) -> Repository:
    return seeded_repo


async def test_a_change_and_its_idempotency_record_commit_together(repo: Repository) -> None:
    ctx = await verified_ctx(repo)
    maria_id = ctx.userdata.verified_customer_id or 0
    slots = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=1)
    sid = str(slots[0].id)
    ctx.user_says("book the first one")
    ctx.tool_returned(await call(ctx, business.book_appointment, slot_id=sid))
    ctx.user_says("yes")
    # The database fails right after the booking's insert, as the result is being recorded.
    await repo.db.execute(
        "CREATE TRIGGER fail_result BEFORE UPDATE ON idempotency_keys"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    with pytest.raises(ToolError) as exc:
        await call(ctx, business.book_appointment, slot_id=sid)
    assert exc.value.message == GENERIC_FAILURE  # "... nothing was changed ..."
    assert "nothing was changed" in GENERIC_FAILURE
    # ...and that is the truth: the booking went with the failed record.
    assert await repo.is_slot_free(int(sid))
    assert [b for b in await repo.bookings_for_customer(maria_id) if b.slot_id == int(sid)] == []
    # The caller asks again once the database is well: it books (no "the slot is taken").
    await repo.db.execute("DROP TRIGGER fail_result")
    readback = await call(ctx, business.book_appointment, slot_id=sid)
    ctx.tool_returned(readback)
    ctx.user_says("yes please")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("Booked:")


async def test_a_locked_sqlite_database_answers_within_two_seconds(
        repo: Repository, tmp_path: Path) -> None:
    row = await repo.db.fetchone("PRAGMA busy_timeout")
    assert row is not None and int(next(iter(row.values()))) <= 2000
    # Another process holds the write lock: the tool gets a clean answer, not a hang.
    other = sqlite3.connect(tmp_path / "guards.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        ctx = make_ctx(repo, phone="+12025550100")
        ctx.user_says("call me back")
        readback = await call(ctx, business.capture_callback_number)
        ctx.tool_returned(readback)
        ctx.user_says("yes")
        with pytest.raises(ToolError) as exc:
            await asyncio.wait_for(call(ctx, business.capture_callback_number), 8)
        assert exc.value.message == GENERIC_FAILURE
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_the_database_down_at_call_start_does_not_stop_the_call(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's directory should be")
    settings = load_settings({**GOOD, "DATABASE_URL": f"sqlite:///{blocker}/calls.db"})
    resources = ProcessResources(settings=settings, vad=None,  # type: ignore[arg-type]
                                 turn_choice=None)  # type: ignore[arg-type]
    assert await resources.tool_services() is None  # no exception: the call goes on
    blocker.unlink()  # the database can be opened again
    services = await resources.tool_services()
    assert services is not None
    await services.repo.close()


async def test_the_call_record_waits_for_the_database_and_is_written_when_it_is_back(
        repo: Repository) -> None:
    answers: list[Repository | None] = [None, None, repo]

    async def reopen() -> Repository | None:
        return answers.pop(0) if answers else repo

    back: list[Repository] = []
    sink = RecordSink(None, reopen=reopen, on_reopened=back.append, retry_every=0.05)
    sink.write(lambda r: r.start_call(call_uid="c-down", room="call-x", channel="sip",
                                      direction="inbound", caller_masked="…0142",
                                      sip_call_id=None), "call c-down started")
    sink.write(lambda r: r.add_call_event(call_uid="c-down", kind="transfer", detail="x"),
               "call c-down transfer: x")
    assert await repo.call("c-down") is None  # held while the database is down
    for _ in range(100):
        if back:
            break
        await asyncio.sleep(0.05)
    await sink.flush()
    assert back == [repo]  # the call's tools get the database back too
    record = await repo.call("c-down")
    assert record is not None and record["caller_masked"] == "…0142"
    assert [e["kind"] for e in await repo.call_events("c-down")] == ["transfer"]


async def test_a_call_record_the_database_never_took_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    async def reopen() -> Repository | None:
        return None

    sink = RecordSink(None, reopen=reopen, retry_every=30)
    sink.write(lambda r: r.start_call(call_uid="c-lost", room="call-y", channel="sip",
                                      direction="inbound", caller_masked="…0142",
                                      sip_call_id=None), "call c-lost started (caller …0142)")
    with caplog.at_level(logging.WARNING, logger="phone-agent.calls"):
        await sink.flush()
    assert any("c-lost" in r.getMessage() and "database unavailable" in r.getMessage()
               for r in caplog.records)


def test_the_degraded_call_state_is_explicit() -> None:
    state = CallState(caller=CallerInfo(kind="sip", phone_number=MARIA))
    assert state.records_unavailable is False


def test_a_browser_caller_is_not_offered_a_colleague_while_the_records_are_down() -> None:
    from agent import prompts
    from agent.assistant import PhoneAssistant

    phone = CallState(caller=CallerInfo(kind="sip", phone_number=MARIA))
    web = CallState(caller=CallerInfo(kind="browser"))
    for state in (phone, web):
        state.records_unavailable = True
    assert prompts.RECORDS_UNAVAILABLE in PhoneAssistant(state=phone).instructions
    web_prompt = PhoneAssistant(state=web).instructions
    # nobody can be put through to a browser, and no callback can be stored now
    assert prompts.RECORDS_UNAVAILABLE_WEB in web_prompt
    assert prompts.RECORDS_UNAVAILABLE not in web_prompt
    _, greeting, fallback = prompts.records_unavailable(web.caller)
    for text in (prompts.RECORDS_UNAVAILABLE_WEB, greeting, fallback):
        assert "colleague" not in text and "transfer" not in text and "try again" in text
    assert "colleague" in prompts.records_unavailable(phone.caller)[2]
