"""Issue 9: the database is unreachable when a call starts. A worker whose DATABASE_URL cannot
be opened still answers: the caller hears the greeting and is told what can't be done (the
caller here joins as a browser participant, who can't be put through to a colleague, so is
asked to try again later; phone callers are offered a colleague: tests/behaviour); the
database comes back mid-call and the call's record is written after all."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from agent import prompts
from agent.data.repository import Repository
from devstack import services as svc
from devstack.caller import TestCaller, caller_token
from emulators.llm_script import Script, reply

from .conftest import LiveStack
from .test_conversation_audio import heard

AGENT_NAME = "phone-agent-nodb"
DOWN_GREETING = ("Hello, this is the Northwind AI assistant. Our records system is down right "
                 "now, so please try again a little later.")


async def test_a_call_without_its_database_is_answered_and_still_recorded(
        stack: LiveStack, tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the database's directory must be")  # open() fails
    database_url = f"sqlite:///{blocker}/calls.db"
    env = {**stack.emulators.env(), "AGENT_NAME": AGENT_NAME, "TURN_DETECTOR": "stt",
           "DATABASE_URL": database_url, "LOG_LEVEL": "info",
           "AGENT_HEALTH_PORT": "0",  # the suite's worker holds 8081
           "METRICS_PORT": "0"}  # and 9100 (its /metrics)
    stack.reset(Script([reply(DOWN_GREETING, when="records system is down")]))
    room = f"nodb-{uuid.uuid4().hex[:8]}"
    with svc.Stack() as workers:
        worker = workers.up(svc.worker("dev", env=env, name="worker-nodb"), quiet=True)
        token = caller_token(stack.key, stack.secret, room, "caller", AGENT_NAME)
        async with TestCaller(svc.LIVEKIT_URL, token) as caller:
            await asyncio.wait_for(caller.agent_joined.wait(), 60)
            greeting = await caller.wait_for_speech(after=0.0, within=40)
            await caller.wait_until_quiet(greeting)
            assert heard(greeting, DOWN_GREETING) == DOWN_GREETING
            # (the list holds every request of the session: this worker's is the one told)
            told = [str(r["messages"][0]) for r in stack.emulators.llm_requests
                    if prompts.RECORDS_UNAVAILABLE_WEB in str(r["messages"][0])]
            assert told and not any(prompts.RECORDS_UNAVAILABLE in t for t in told)
            blocker.unlink()  # the database can be opened again, mid-call
            for _ in range(60):
                if "database is back" in worker.log_text():
                    break
                await asyncio.sleep(0.5)
        assert "database unavailable" in worker.log_text()
        assert "database is back" in worker.log_text()
        repo = await Repository.open(database_url)
        try:
            record = None
            for _ in range(60):  # the session closes a moment after the caller leaves
                calls = [c for c in await repo.recent_calls(50) if c["room"] == room]
                record = calls[0] if calls else None
                if record is not None and record["ended_at"]:
                    break
                await asyncio.sleep(0.5)
            assert record is not None and record["ended_at"], record
            lines = await repo.call_events(record["call_uid"], kind="transcript")
            assert any(e["role"] == "assistant" and "records" in (e["text"] or "")
                       for e in lines), lines
        finally:
            await repo.close()
