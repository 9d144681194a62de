"""`python -m agent.report`: call-quality figures from call records on SQLite and PostgreSQL,
the table and the PNG chart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from agent import report
from agent.data.repository import Repository
from tests.support.postgres import postgres_server  # noqa: F401  (db_url's PostgreSQL)
from tests.unit import test_repository

db_url = test_repository.db_url  # the fixture: SQLite, then PostgreSQL

DAY1, DAY2 = date(2026, 5, 4), date(2026, 5, 5)
T0 = 1_777_900_000.0  # an epoch second on DAY1 (2026-05-04 13:06:40 UTC)


async def _call(repo: Repository, uid: str, day: str, *, ended_by: str | None,
                duration: float | None, channel: str = "sip", direction: str = "inbound"
                ) -> None:
    await repo.db.execute(
        "INSERT INTO calls (call_uid, room, channel, direction, started_at, ended_at, ended_by,"
        " end_reason, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (uid, f"room-{uid}", channel, direction, f"{day}T13:00:00+00:00",
         None if ended_by is None else f"{day}T13:10:00+00:00", ended_by, "test", duration))


async def _line(repo: Repository, uid: str, role: str, start: float, end: float,
                interrupted: bool = False, **metrics: float) -> None:
    detail = {"metrics": {"started_speaking_at": T0 + start, "stopped_speaking_at": T0 + end,
                          **metrics}, "interrupted": interrupted}
    await repo.db.execute(
        "INSERT INTO call_events (call_uid, at, kind, role, text, detail) VALUES"
        " (?, ?, 'transcript', ?, ?, ?)",
        (uid, "2026-05-04T13:00:00+00:00", role, "...", json.dumps(detail)))


async def _event(repo: Repository, uid: str, kind: str, detail: str) -> None:
    await repo.db.execute("INSERT INTO call_events (call_uid, at, kind, detail) VALUES"
                          " (?, ?, ?, ?)", (uid, "2026-05-04T13:00:00+00:00", kind, detail))


async def _audit(repo: Repository, outcome: str, at: str = "2026-05-04T13:05:00+00:00") -> None:
    await repo.db.execute(
        "INSERT INTO audit_log (at, call_id, tool, arguments, outcome, latency_ms) VALUES"
        " (?, ?, ?, ?, ?, ?)", (at, "SCL_x", "book_appointment", "{}", outcome, 12))


@pytest.fixture
async def records(db_url: str) -> AsyncIterator[str]:
    repo = await Repository.open(db_url)
    try:
        # Day 1. A browser call: greeting, three answers (1.0 s, 3.5 s and talked over, then
        # after a failed turn the hold line came 2.5 s later and an answer 0.5 s), 60 s.
        await _call(repo, "c1", "2026-05-04", ended_by="caller", duration=60.0,
                    channel="standard")
        await _line(repo, "c1", "assistant", 0.0, 3.0)
        await _line(repo, "c1", "user", 4.0, 6.0, end_of_turn_delay=0.3)
        await _line(repo, "c1", "assistant", 7.0, 10.0, e2e_latency=1.0)
        await _line(repo, "c1", "user", 11.0, 12.0)
        await _line(repo, "c1", "assistant", 15.5, 16.0, interrupted=True, e2e_latency=3.5)
        await _line(repo, "c1", "user", 17.0, 18.0)
        await _event(repo, "c1", "hold_line", json.dumps({"at": T0 + 20.5,
                                                          "line": "One moment, please."}))
        await _event(repo, "c1", "provider_error", "llm/openai/http_5xx/retried LLM: 503")
        await _event(repo, "c1", "provider_error", "llm/openai/http_5xx/final LLM: 503")
        await _line(repo, "c1", "user", 30.0, 31.0)
        await _line(repo, "c1", "assistant", 31.5, 33.0, e2e_latency=0.5)
        # A transferred call, an outbound dial nobody took, a call that dropped.
        await _call(repo, "c2", "2026-05-04", ended_by="transfer", duration=30.0)
        await _line(repo, "c2", "assistant", 100.0, 103.0)
        await _call(repo, "c3", "2026-05-04", ended_by="busy", duration=5.0,
                    direction="outbound")
        await _call(repo, "c4", "2026-05-04", ended_by="error", duration=10.0)
        await _event(repo, "c4", "provider_error", "tts/elevenlabs/connection/final TTS: x")
        await _call(repo, "c7", "2026-05-04", ended_by=None, duration=None)  # never closed
        for outcome in ("ok", "awaiting_confirmation", "denied", "failure"):
            await _audit(repo, outcome)
        # Day 2: one call the agent ended; and a call outside the range.
        await _call(repo, "c5", "2026-05-05", ended_by="agent", duration=20.0)
        await _line(repo, "c5", "user", 200.0, 201.0)
        await _line(repo, "c5", "assistant", 203.0, 204.0, e2e_latency=2.0)
        await _audit(repo, "ok", at="2026-05-05T09:00:00+00:00")
        await _call(repo, "c6", "2026-05-07", ended_by="caller", duration=999.0)
    finally:
        await repo.close()
    yield db_url


async def test_one_day_of_records(records: str) -> None:
    (day,) = await report.collect(records, DAY1, DAY1)
    assert day.label == "2026-05-04"
    # The busy dial was never answered; c7's record was never closed: in no rate.
    assert (day.calls, day.answered, day.completed) == (5, 4, 3)
    assert day.containment == pytest.approx(1 / 3)
    assert day.transfer_rate == pytest.approx(1 / 3)
    assert day.dropped_rate == pytest.approx(1 / 3)
    assert day.aht_s == pytest.approx((60 + 30 + 10) / 3)
    assert day.turns == 3 and day.p50_s == pytest.approx(1.0)
    assert day.p95_s == pytest.approx(3.25) and day.p99_s == pytest.approx(3.45)
    assert day.interruption_rate == pytest.approx(1 / 5)  # 5 agent utterances, 1 talked over
    # 3.5 s before the talked-over answer, 2.5 s before the hold line; the 1.0 and 0.5 s
    # answers are no dead air. Over 100 s of completed calls.
    assert day.dead_air_ratio == pytest.approx(6.0 / 100)
    assert day.tool_calls == 4 and day.tool_success_rate == pytest.approx(0.5)
    assert dict(day.tool_results) == {"ok": 2, "refused": 1, "error": 1}
    assert (day.errors_final, day.errors_retried) == (2, 1)
    assert dict(day.errors_by_stage) == {"llm": 2, "tts": 1}


async def test_a_range_has_a_row_per_day_and_a_total(records: str) -> None:
    rows = await report.collect(records, DAY1, date(2026, 5, 6))
    assert [r.label for r in rows] == ["2026-05-04", "2026-05-05", "2026-05-06",
                                       "total 2026-05-04 .. 2026-05-06"]
    day2, empty, total = rows[1:]
    assert (day2.calls, day2.containment, day2.p50_s, day2.tool_calls) == (1, 1.0, 2.0, 1)
    assert empty.calls == 0 and empty.containment is None and empty.p50_s is None
    assert total.calls == 6 and total.turns == 4  # the call of 05-07 is outside
    assert total.p50_s == pytest.approx(1.5)
    assert total.aht_s == pytest.approx((60 + 30 + 10 + 20) / 4)


def test_the_command_prints_the_table_and_writes_the_chart(
        records: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "chart.png"
    assert report.main(["--database-url", records, "--from", "2026-05-04", "--to",
                        "2026-05-05", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    header, day1, day2, rule, total = out.splitlines()[:5]
    assert header.split()[:4] == ["day", "calls", "open", "contained"]
    assert day1.split()[:8] == ["2026-05-04", "5", "1", "33.3%", "33.3%", "33.3%", "33.3",
                                "3"]
    assert day2.startswith("2026-05-05") and set(rule) == {"-"}
    assert total.startswith("total 2026-05-04 .. 2026-05-05")
    assert "2/3" in day1  # provider errors: final/all
    assert f"chart: {png}" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_bad_input_gets_a_clear_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    missing = f"sqlite:///{tmp_path}/none.db"
    assert report.main(["--database-url", missing, "--no-png"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()  # the report never creates a database
    assert report.main(["--database-url", "mysql://x", "--no-png"]) == 2
    assert "must start with sqlite:/// or postgresql://" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        report.main(["--day", "yesterday"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        report.main(["--from", "2026-05-05", "--to", "2026-05-04"])
