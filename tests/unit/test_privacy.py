"""Retention (`python -m agent.data.purge`) and erasure (`python -m agent.data.forget`) on
SQLite and PostgreSQL, with recordings in a real local store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import Settings, load_settings
from agent.data.forget import forget
from agent.data.privacy import ANONYMIZED_ARGUMENTS
from agent.data.purge import purge
from agent.data.repository import AuditEntry, Repository
from agent.data.seed import seed
from agent.phones import caller_key
from agent.recording.store import LocalStore
from agent.webhooks.events import Webhooks
from tests.support.postgres import postgres_server, sqlite_and_postgres_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
MARIA, JAMES, STRANGER = "+14155550142", "+14155550187", "+12025550100"
BASE_ENV = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 40, "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789", "ELEVEN_API_KEY": "el-0123456789",
    "CALLER_HASH_KEY": "caller-key-for-tests-0123456789abcdef",
}


@pytest.fixture
def db_url(sqlite_and_postgres_url: str) -> str:  # noqa: F811
    return sqlite_and_postgres_url


def env_for(db_url: str, store: Path) -> dict[str, str]:
    return {**BASE_ENV, "DATABASE_URL": db_url, "RECORDINGS_STORE": str(store)}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(env_for(db_url, tmp_path / "recordings"))


@pytest.fixture
async def repo(db_url: str) -> AsyncIterator[Repository]:
    r = await Repository.open(db_url)
    await seed(r)
    yield r
    await r.close()


async def make_call(repo: Repository, settings: Settings, *, phone: str | None,
                    days_ago: float = 0, ended: bool = True, recording: bool = True,
                    channel: str = "sip") -> str:
    """A complete call record: transcript, an event, an outcome, a recording, a webhook,
    an idempotency key and an audit row."""
    uid = uuid.uuid4().hex
    started = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")
    sip_id = f"SCL_{uid[:8]}" if channel == "sip" else None
    await repo.start_call(call_uid=uid, room=f"call-{uid[:6]}", channel=channel,
                          direction="inbound", caller_masked=None, sip_call_id=sip_id,
                          caller_key=caller_key(phone, settings.caller_key_secret))
    await repo.db.execute("UPDATE calls SET started_at = ? WHERE call_uid = ?", (started, uid))
    for role, text in (("assistant", "Hello, how can I help?"), ("user", "Where is my order?")):
        await repo.add_transcript_line(call_uid=uid, role=role, text=text, metrics={},
                                       interrupted=False)
    await repo.add_call_event(call_uid=uid, kind="transfer", detail="support: ok")
    if ended:
        await repo.finish_call(call_uid=uid, ended_by="caller", reason="disconnect",
                               duration_s=30.0)
        await repo.set_outcome(uid, status="ok", summary="Asked about an order.",
                               outcome={"reason": "order"})
    if recording:
        source = Path(settings.recordings_store).parent / f"{uid}.ogg"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"OggS" + uid.encode())
        uri = await LocalStore(settings.recordings_store).save(source, f"x/{uid}.ogg",
                                                               sha256="0")
        await repo.set_recording(uid, consent="given", status="stored", uri=uri,
                                 duration_s=30.0, sha256="0")
    await Webhooks(repo, ["http://127.0.0.1:9/h"], uid).emit("call.ended", {"summary": "x"})
    await repo.run_once(f"k-{uid}", tool="book_appointment", call_id=uid,
                        work=lambda tx: "booked")
    await repo.write_audit(AuditEntry(call_id=sip_id or uid, caller="…0142", customer_id=None,
                                      tool="check_order_status", arguments='{"order": "A1"}',
                                      outcome="ok", result="shipped", latency_ms=5))
    return uid


async def count(repo: Repository, table: str, where: str = "1 = 1",
                params: tuple[object, ...] = ()) -> int:
    row = await repo.db.fetchone(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}",
                                 params)  # type: ignore[arg-type]
    return int(row["n"]) if row else 0


def recording_files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.recordings_store).rglob("*.ogg"))


async def test_purge_removes_old_calls_whole_in_batches_and_keeps_recent_and_live_ones(
        repo: Repository, settings: Settings) -> None:
    old = [await make_call(repo, settings, phone=MARIA, days_ago=120) for _ in range(5)]
    stale = await make_call(repo, settings, phone=JAMES, days_ago=100, ended=False)
    recent = await make_call(repo, settings, phone=MARIA, days_ago=10)
    live = await make_call(repo, settings, phone=JAMES, ended=False)
    await repo.db.execute("UPDATE audit_log SET at = ? WHERE call_id = ?",
                          ("2020-01-01T00:00:00+00:00", f"SCL_{recent[:8]}"))
    assert len(recording_files(settings)) == 8

    report = await purge(repo, settings, days=90, audit_days=365, batch_size=2)

    assert report.failures == []
    e = report.erased
    assert (e.calls, e.recordings, e.transcript_lines, e.events) == (6, 6, 12, 6)
    assert (e.summaries, e.webhook_deliveries, e.idempotency_keys) == (5, 6, 6)
    assert e.audit_rows == 1  # the one audit row older than a year, whatever its call
    remaining = {c["call_uid"] for c in await repo.recent_calls(50)}
    assert remaining == {recent, live}
    for uid in [*old, stale]:
        assert await repo.call_events(uid) == [] and await repo.webhooks(call_uid=uid) == []
        assert await repo.idempotency_result(f"k-{uid}") is None
    assert len(await repo.call_events(recent)) == 3 and len(await repo.call_events(live)) == 3
    assert len(recording_files(settings)) == 2
    assert (await purge(repo, settings, days=90, audit_days=365)).erased.calls == 0


async def test_purge_runs_beside_a_live_call_that_keeps_writing(db_url: str, repo: Repository,
                                                                settings: Settings) -> None:
    for _ in range(40):
        await make_call(repo, settings, phone=MARIA, days_ago=200, recording=False)
    live_repo = await Repository.open(db_url)  # the worker's own connection
    live = uuid.uuid4().hex
    await live_repo.start_call(call_uid=live, room="live", channel="sip", direction="inbound",
                               caller_masked=None, sip_call_id=None)

    async def talk() -> None:
        for i in range(60):
            await live_repo.add_transcript_line(call_uid=live, role="user", text=f"line {i}",
                                                metrics={}, interrupted=False)
            await asyncio.sleep(0)

    try:
        report, _ = await asyncio.gather(
            purge(repo, settings, days=30, audit_days=0, batch_size=5), talk())
    finally:
        await live_repo.close()
    assert report.erased.calls == 40 and report.failures == []
    assert len(await repo.call_events(live)) == 60
    assert await count(repo, "audit_log") == 40  # AUDIT_RETENTION 0: audit kept forever


async def test_forget_removes_the_numbers_outbound_attempts_and_keeps_do_not_call(
        repo: Repository, settings: Settings) -> None:
    uid = await make_call(repo, settings, phone=JAMES, recording=False)
    await repo.record_outbound_attempt(JAMES, call_uid=uid)
    await repo.record_outbound_attempt(MARIA, call_uid="another-call")
    await repo.add_do_not_call(JAMES, source="callee")

    report = await forget(repo, settings, phone=JAMES)

    assert report.failures == [] and report.erased.calls == 1
    assert await repo.outbound_attempts(JAMES, within=timedelta(days=1)) == 0
    assert await repo.outbound_attempts(MARIA, within=timedelta(days=1)) == 1
    assert await repo.is_do_not_call(JAMES)  # "stop calling me" outlives an erasure


async def test_forget_by_phone_erases_the_callers_calls_and_anonymizes_their_audit(
        repo: Repository, settings: Settings) -> None:
    maria = await repo.customer_by_phone(MARIA)
    assert maria is not None
    for days_ago in (1, 40):  # two calls from her number
        await make_call(repo, settings, phone=MARIA, days_ago=days_ago)
    # a browser call with no number, where Maria verified and opened a ticket: found by the
    # account
    web = await make_call(repo, settings, phone=None, channel="standard")
    await repo.create_ticket(customer_id=maria.id, subject="s", description="d",
                             priority="normal", order_id=None, call_id=web)
    await repo.write_audit(AuditEntry(call_id="elsewhere", caller="…0142", customer_id=maria.id,
                                      tool="verify_identity", arguments='{"pin": "[redacted]"}',
                                      outcome="ok", result="verified", latency_ms=3))
    james = await make_call(repo, settings, phone=JAMES)
    stranger_key = caller_key(STRANGER, settings.caller_key_secret)
    assert stranger_key and stranger_key not in json.dumps(
        [dict(c) for c in await repo.recent_calls(50)])  # keys only, never numbers

    report = await forget(repo, settings, phone="(415) 555-0142")

    assert report.failures == []
    e = report.erased
    assert (e.calls, e.recordings, e.transcript_lines, e.summaries) == (3, 3, 6, 3)
    assert e.audit_rows == 4  # three call-linked rows + the account's verify_identity row
    assert {c["call_uid"] for c in await repo.recent_calls(50)} == {james}
    assert len(recording_files(settings)) == 1
    anonymized = await repo.audit_entries(tool="verify_identity")
    assert [(a.caller, a.customer_id, a.call_id, a.arguments, a.result) for a in anonymized] \
        == [(None, None, None, ANONYMIZED_ARGUMENTS, None)]
    assert anonymized[0].outcome == "ok"  # what happened stays, who it was does not
    kept = await repo.audit_entries(call_id=f"SCL_{james[:8]}")
    assert len(kept) == 1 and kept[0].caller == "…0142", "another caller's rows are untouched"
    again = await forget(repo, settings, phone=MARIA)
    assert again.erased.calls == 0 and again.erased.audit_rows == 0


async def test_forget_by_customer_and_a_recording_that_will_not_delete(
        repo: Repository, settings: Settings) -> None:
    james = await repo.customer_by_phone(JAMES)
    assert james is not None
    ok = await make_call(repo, settings, phone=JAMES)
    stuck = await make_call(repo, settings, phone=JAMES, recording=False)
    await repo.set_recording(stuck, consent="given", status="stored",
                             uri="s3://old-bucket/2026/01/01/x.ogg")
    report = await forget(repo, settings, customer_id=james.id)
    assert report.erased.calls == 1 and len(report.failures) == 1
    assert stuck in report.failures[0] and "s3://old-bucket" in report.failures[0]
    assert await repo.call(ok) is None
    assert await repo.call(stuck) is not None, "kept until its recording can be deleted"
    with pytest.raises(ValueError):
        await forget(repo, settings, customer_id=999_999)
    with pytest.raises(ValueError):
        await forget(repo, settings, phone="not a number")


def run_cli(module: str, *args: str, env: dict[str, str], cwd: Path
            ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "DEEP",
                                                                        "ELEVEN", "DATABASE"))}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, text=True,
                          env={**clean, **env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          timeout=120)


async def test_the_commands_print_what_they_removed(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/cli.db"
    env = env_for(db_url, tmp_path / "recordings")
    settings = load_settings(env)
    repo = await Repository.open(db_url)
    await seed(repo)
    await make_call(repo, settings, phone=MARIA, days_ago=200)
    await make_call(repo, settings, phone=JAMES)
    await repo.close()

    purged = await asyncio.to_thread(run_cli, "agent.data.purge", env=env, cwd=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert "purged (calls older than 90 days, audit rows older than 365 days): 1 calls" \
        in purged.stdout and "1 recordings" in purged.stdout
    forgot = await asyncio.to_thread(run_cli, "agent.data.forget", "--phone", JAMES, env=env,
                                     cwd=tmp_path)
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith("erased for the caller: 1 calls, 2 transcript lines")
    bad = await asyncio.to_thread(run_cli, "agent.data.forget", "--phone", "12", env=env,
                                  cwd=tmp_path)
    assert bad.returncode == 2 and "not a phone number" in bad.stderr
    assert "Traceback" not in bad.stderr


async def test_the_call_record_keeps_a_key_and_a_mask_never_the_number(
        repo: Repository, settings: Settings) -> None:
    from livekit.agents import AgentSession

    from agent.call_state import CallerInfo, CallState
    from agent.observability.calls import CallRecorder
    from agent.observability.record_sink import RecordSink

    # livekit-sip's individual dispatch rule names the room after the caller's number
    state = CallState(room_name=f"call-_{MARIA}_Xy12", caller=CallerInfo(
        identity=f"sip_{MARIA}", kind="sip", phone_number=MARIA, call_id="SCL_9"))
    key = caller_key(MARIA, settings.caller_key_secret)
    recorder = CallRecorder(state, AgentSession(), RecordSink(repo), caller_key=key)
    recorder.attach()
    await recorder.flush()
    row = await repo.db.fetchone("SELECT * FROM calls WHERE call_uid = ?", (state.call_uid,))
    assert row is not None and row["caller_key"] == key and row["room"] == "call-_…0142_Xy12"
    assert MARIA[1:] not in json.dumps(row)
    assert caller_key("(415) 555-0142", settings.caller_key_secret) == key  # any spelling
    assert caller_key(MARIA, "another key") != key
