"""The after-call summary and outcome: schema, the facts the backend adds, the one retry, and
the after-call sequence on a real database with DeepSeek emulated (official OpenAI plugin)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit.agents import AgentSession
from livekit.plugins import openai

from agent.after_call import AfterCall
from agent.analysis.outcome import (
    OutcomeInvalid,
    actions_taken,
    digest,
    stored_outcome,
    validate,
)
from agent.analysis.summarize import analyse
from agent.call_state import CallerInfo, CallState
from agent.config import Settings, load_settings
from agent.data.repository import AuditEntry, CallEvent, Repository
from agent.observability.calls import CallRecorder
from agent.observability.record_sink import RecordSink
from agent.recording.capture import CallRecording
from agent.recording.consent import RecordingConsent
from agent.webhooks.events import Webhooks
from emulators import ProviderEmulators
from emulators.llm_script import Script, error, reply

GOOD = {
    "summary": "The caller booked a boiler service for Tuesday.",
    "reason": "book a boiler service", "resolved": True,
    "follow_up": {"needed": False, "detail": None}, "sentiment": "positive",
    "transfer_reason": "wanted a person",
}


def audit(tool: str, outcome: str = "ok", result: str = "done") -> AuditEntry:
    return AuditEntry(call_id="c", caller=None, customer_id=1, tool=tool, arguments="{}",
                      outcome=outcome, result=result, latency_ms=1)


def event(kind: str, detail: str, role: str | None = None, text: str | None = None
          ) -> CallEvent:
    return CallEvent(id=1, call_uid="c", at="", kind=kind, role=role, text=text, detail=detail)


def test_the_schema_takes_a_good_answer_and_names_what_is_wrong_with_a_bad_one() -> None:
    assert validate(json.dumps(GOOD)) == GOOD
    bad = {
        "{not json": "not JSON",
        json.dumps([GOOD]): "is not of type 'object'",
        json.dumps({**GOOD, "sentiment": "furious"}): "sentiment",
        json.dumps({k: v for k, v in GOOD.items() if k != "resolved"}): "'resolved' is a "
                                                                        "required property",
        json.dumps({**GOOD, "resolved": "yes"}): "resolved",
        json.dumps({**GOOD, "extra": 1}): "Additional properties",
        json.dumps({**GOOD, "summary": ""}): "summary",
    }
    for text, why in bad.items():
        with pytest.raises(OutcomeInvalid, match=why):
            validate(text)


def test_actions_are_the_backends_facts_not_the_models_claims() -> None:
    entries = [audit("book_appointment"), audit("book_appointment", "awaiting_confirmation"),
               audit("create_support_ticket", "denied"), audit("check_order_status"),
               audit("send_sms_confirmation", result="sent to +14155550142")]
    events = [event("transfer", "sip:support@pbx: accepted"), event("transfer_failed", "x")]
    actions = actions_taken(entries, events)
    assert [a["type"] for a in actions] == ["booking", "sms", "transfer"]
    assert "+14155550142" not in json.dumps(actions)  # results are redacted once more
    assert stored_outcome(GOOD, actions)["transfer_reason"] == "wanted a person"
    no_transfer = stored_outcome(GOOD, actions[:2])
    assert no_transfer["transfer_reason"] is None, "no transfer happened: no reason for one"
    assert no_transfer["actions"] == actions[:2] and "summary" not in no_transfer


def test_the_digest_is_redacted_and_complete() -> None:
    lines = [event("transcript", "", "assistant", "Hello."),
             event("transcript", "", "user", "My card is 4111 1111 1111 1111")]
    text = digest(None, lines, [audit("book_appointment")], [event("transfer", "support")])
    assert text.startswith("The finished call, for the JSON summary:")
    assert "agent: Hello." in text and "caller: My card is" in text
    assert "4111 1111 1111 1111" not in text
    assert "book_appointment({}) -> ok: done" in text and "- transfer: support" in text


def model_for(emu: ProviderEmulators) -> openai.LLM:
    env = emu.env()
    return openai.LLM(model="deepseek-v4-flash", base_url=env["DEEPSEEK_BASE_URL"],
                      api_key=env["DEEPSEEK_API_KEY"],
                      extra_body={"thinking": {"type": "enabled"}})


async def test_valid_answer_first_time() -> None:
    async with ProviderEmulators(script=Script([reply(json.dumps(GOOD))])) as emu:
        model = model_for(emu)
        result = await analyse(model, "The finished call, for the JSON summary: ...")
        await model.aclose()
        assert (result.status, result.answer, result.attempts) == ("ok", GOOD, 1)
        body = emu.llm_requests[0]
        assert body["response_format"] == {"type": "json_object"}
        assert body["thinking"] == {"type": "enabled"}
        assert "json" in body["messages"][0]["content"].lower()


async def test_an_invalid_answer_is_sent_back_once_with_the_reason() -> None:
    script = Script([reply('{"summary": "cut off'), reply(json.dumps(GOOD), when="not valid")])
    async with ProviderEmulators(script=script) as emu:
        model = model_for(emu)
        result = await analyse(model, "The finished call, for the JSON summary: ...")
        await model.aclose()
        assert (result.status, result.attempts) == ("ok", 2)
        retry = emu.llm_requests[1]["messages"]
        assert retry[-2] == {"role": "assistant", "content": '{"summary": "cut off'}
        assert "not valid (not JSON" in retry[-1]["content"]


@pytest.mark.parametrize("turns", [
    [reply(json.dumps({"summary": "x"})), reply("still not it")],
    [error(400), error(400)],
])
async def test_two_failures_make_it_unavailable(turns: list) -> None:
    async with ProviderEmulators(script=Script(turns)) as emu:
        model = model_for(emu)
        result = await analyse(model, "The finished call, for the JSON summary: ...")
        await model.aclose()
        assert result.status == "unavailable" and result.answer is None and result.error
        assert len(emu.llm_requests) == 2


# --- the after-call sequence -------------------------------------------------------------------


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    r = await Repository.open(f"sqlite:///{tmp_path}/calls.db")
    yield r
    await r.close()


def settings_for(emu: ProviderEmulators, tmp_path: Path) -> Settings:
    return load_settings({
        **emu.env(), "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": "s" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/calls.db",
        "WEBHOOK_URLS": "http://127.0.0.1:9/hooks", "WEBHOOK_SECRET": "w" * 40})


async def finished_call(repo: Repository) -> CallState:
    state = CallState(room_name="room-1", caller=CallerInfo(identity="caller", kind="sip",
                                                            phone_number="+14155550142",
                                                            call_id="SCL_1"),
                      call_uid=uuid.uuid4().hex)
    await repo.start_call(call_uid=state.call_uid, room=state.room_name, channel="sip",
                          direction="inbound", caller_masked="…0142", sip_call_id="SCL_1")
    for role, text in (("assistant", "Hello."), ("user", "Book a boiler service please.")):
        await repo.add_transcript_line(call_uid=state.call_uid, role=role, text=text,
                                       metrics={}, interrupted=False)
    await repo.write_audit(AuditEntry(call_id="SCL_1", caller="…0142", customer_id=1,
                                      tool="book_appointment", arguments="{}", outcome="ok",
                                      result="Booked: Tuesday 9 am.", latency_ms=4))
    await repo.finish_call(call_uid=state.call_uid, ended_by="caller", reason="disconnect",
                           duration_s=42.0)
    return state


def after_call(state: CallState, settings: Settings, repo: Repository,
               emu: ProviderEmulators) -> AfterCall:
    session: AgentSession = AgentSession()
    return AfterCall(state, settings, repo, CallRecorder(state, session, RecordSink(repo)),
                     CallRecording(RecordingConsent("off"), session, call_uid=state.call_uid,
                                   repo=repo, store=lambda: pytest.fail("nothing to store"),
                                   on_event=lambda k, d: None),
                     Webhooks(repo, settings.webhook_urls, state.call_uid),
                     lambda: model_for(emu))


async def test_after_a_call_whose_database_never_came_back_nothing_fails(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = CallState(room_name="room-1", caller=CallerInfo(identity="caller", kind="sip",
                                                            phone_number="+14155550142"))
    session: AgentSession = AgentSession()
    sink = RecordSink(None)  # down at the start, never reopened
    record = CallRecorder(state, session, sink)
    record.attach()
    async with ProviderEmulators(script=Script([reply(json.dumps(GOOD))])) as emu:
        settings = settings_for(emu, tmp_path)
        webhooks = Webhooks(lambda: None, settings.webhook_urls, state.call_uid)
        recording = CallRecording(RecordingConsent("off"), session, call_uid=state.call_uid,
                                  repo=lambda: None, store=lambda: pytest.fail("nothing kept"),
                                  on_event=lambda k, d: None)
        with caplog.at_level("WARNING"):
            await AfterCall(state, settings, lambda: None, record, recording, webhooks,
                            lambda: model_for(emu)).run()
        assert emu.llm_requests == []  # no summary of a record the database never took
    assert await webhooks.emit("call.ended", {}) is None
    logged = caplog.text
    assert "call record kept in the log" in logged and "database is unavailable" in logged
    assert "after-call write failed" not in logged and "Traceback" not in logged


async def test_after_the_call_the_outcome_is_stored_and_announced(repo: Repository,
                                                                  tmp_path: Path) -> None:
    script = Script([reply(json.dumps(GOOD), when="for the JSON summary")])
    async with ProviderEmulators(script=script) as emu:
        state = await finished_call(repo)
        await after_call(state, settings_for(emu, tmp_path), repo, emu).run()
        digest_sent = emu.llm_requests[0]["messages"][1]["content"]
    assert "caller: Book a boiler service please." in digest_sent
    assert "book_appointment({}) -> ok: Booked: Tuesday 9 am." in digest_sent
    record = await repo.call(state.call_uid)
    assert record is not None and record["outcome_status"] == "ok"
    assert record["summary"] == GOOD["summary"]
    outcome = record["outcome"]
    assert outcome is not None and outcome["resolved"] is True
    assert outcome["actions"] == [{"type": "booking", "tool": "book_appointment",
                                   "detail": "Booked: Tuesday 9 am."}]
    assert outcome["transfer_reason"] is None  # the model said one; no transfer happened
    assert record["recording_consent"] == "off" and record["recording_status"] == "none"
    (ended,) = await repo.webhooks(call_uid=state.call_uid)
    body = json.loads(ended.payload)
    assert body["type"] == "call.ended" and body["data"]["summary"] == GOOD["summary"]
    assert body["data"]["outcome"] == outcome and body["data"]["outcome_status"] == "ok"
    assert body["data"]["call"]["ended_by"] == "caller"
    assert "room" not in body["data"]["call"] and "+1415" not in ended.payload


async def test_a_failed_summary_never_loses_the_call_record(repo: Repository,
                                                            tmp_path: Path) -> None:
    async with ProviderEmulators(script=Script([error(500, repeat=True)])) as emu:
        state = await finished_call(repo)
        await after_call(state, settings_for(emu, tmp_path), repo, emu).run()
    record = await repo.call(state.call_uid)
    assert record is not None and record["ended_by"] == "caller"
    assert record["duration_s"] == 42.0 and record["outcome_status"] == "unavailable"
    assert record["summary"] is None and record["outcome"] is None
    assert len(await repo.call_events(state.call_uid, kind="transcript")) == 2
    assert [e["kind"] for e in await repo.call_events(state.call_uid)
            if e["kind"] != "transcript"] == ["summary_unavailable"]
    (ended,) = await repo.webhooks(call_uid=state.call_uid)
    assert json.loads(ended.payload)["data"]["outcome_status"] == "unavailable"
