"""Issue 9 inside real AgentSessions (the model: the official openai plugin against the DeepSeek
emulator): the call's own wiring (keypad, recording), the greeting without a database, the
call record's redaction, unparseable tool arguments, and the confirmation rule end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import AgentSession, StopResponse
from livekit.agents.llm import ChatMessage
from livekit.plugins import openai

from agent import prompts
from agent.assistant import PhoneAssistant
from agent.call import Call, ProcessResources
from agent.call_state import CallerInfo, CallState
from agent.config import load_settings
from agent.data.repository import Repository
from agent.observability.calls import CallRecorder
from agent.observability.record_sink import RecordSink
from agent.providers import DEEPSEEK_EXTRA_BODY, choose_turn_detector
from agent.telephony.outbound import OutboundAssistant
from agent.tools import ToolServices, attach_tool_audit
from emulators import ProviderEmulators
from emulators.llm_script import Script, reply, tool_call
from tests.support.tool_ctx import MARIA, open_seeded


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    r = await open_seeded(tmp_path, "call.db")
    try:
        yield r
    finally:
        await r.close()


def phone_state(repo: Repository | None, **kw: Any) -> CallState:
    return CallState(room_name="call-safety",
                     caller=CallerInfo(identity="sip_caller", kind="sip", phone_number=MARIA,
                                       call_id="SCL_safety"),
                     services=ToolServices(repo=repo) if repo is not None else None, **kw)


def model(emu: ProviderEmulators) -> openai.LLM:
    return openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                      api_key=emu.env()["DEEPSEEK_API_KEY"], extra_body=DEEPSEEK_EXTRA_BODY)


def sent_to_model(emu: ProviderEmulators) -> str:
    return json.dumps(emu.llm_requests)


def production_call(emu: ProviderEmulators, state: CallState, tmp_path: Path) -> Call:
    """The production `Call`, its settings pointing at the emulators (no room, no job)."""
    settings = load_settings({
        **emu.env(), "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": "s" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/call.db",
        "TURN_DETECTOR": "stt"})
    resources = ProcessResources(settings=settings, vad=None,  # type: ignore[arg-type]
                                 turn_choice=choose_turn_detector("stt"),
                                 services=state.services)
    return Call(object(), resources, state, None)  # type: ignore[arg-type]


async def wait_until(predicate: Any, within: float = 30.0) -> None:
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


# -- keypad digits ------------------------------------------------------------------------------


async def test_keypad_digits_never_reach_the_model_or_the_transcript(
        repo: Repository, tmp_path: Path) -> None:
    script = Script([
        tool_call("verify_identity", {}, when="typed their PIN"),
        reply("Thank you, you're verified.", when="^Verified"),
    ])
    state = phone_state(repo)
    async with ProviderEmulators(script=script) as emu:
        call = production_call(emu, state, tmp_path)
        await call.session.start(call.agent)
        try:
            for digit in "2468#":
                call.keypad.handle(digit)
            await wait_until(lambda: state.verified_customer_id is not None)
            await wait_until(lambda: any("verified" in str(i.text_content or "")
                                         for i in call.session.history.items
                                         if getattr(i, "role", "") == "assistant"))
        finally:
            await call.session.aclose()
    sent = sent_to_model(emu)
    assert "typed their PIN" in sent
    assert "2468" not in sent and "2 4 6 8" not in sent
    history = json.dumps(call.session.history.to_dict())
    assert "2468" not in history and "2 4 6 8" not in history
    assert state.verified_with_pin and state.dtmf_buffer == ""


# -- audio at rest ------------------------------------------------------------------------------


async def test_the_call_never_records_audio(repo: Repository, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    started: dict[str, Any] = {}

    async def start(self: AgentSession, agent: Any, **kwargs: Any) -> None:
        started.update(kwargs)

    monkeypatch.setattr(AgentSession, "start", start)

    class Room:
        name = "call-safety"

        def on(self, *_: Any) -> None:
            pass

    class Job:
        id = "job-call-safety"

    class Ctx:
        room = Room()
        job = Job()

        def add_shutdown_callback(self, _: Any) -> None:
            pass

    async with ProviderEmulators(script=Script()) as emu:
        call = production_call(emu, phone_state(repo), tmp_path)
        call.ctx = Ctx()  # type: ignore[assignment]
        await call.start()
    # record=True (or unset, which defers to the job's setting) writes audio.ogg to disk
    assert started.get("record") is False


# -- without a database -------------------------------------------------------------------------


async def test_without_a_database_the_caller_is_greeted_and_told_what_cannot_be_done() -> None:
    script = Script([reply("Hello, this is Northwind's AI assistant. Our records are down "
                           "right now; I can connect you with a colleague.",
                           when="records system is down")])
    state = phone_state(None, records_unavailable=True)
    async with ProviderEmulators(script=script) as emu, \
            AgentSession[CallState](llm=model(emu), userdata=state) as session:
        result = await session.start(PhoneAssistant(state=state), capture_run=True)
        result.expect.next_event().is_agent_handoff(new_agent_type=PhoneAssistant)
        greeting = result.expect.next_event().is_message(role="assistant")
    assert "colleague" in (greeting.event().item.text_content or "")
    system = emu.llm_requests[0]["messages"][0]["content"]
    assert prompts.RECORDS_UNAVAILABLE in system
    # and if the model is down as well, the fixed greeting says it
    assert "records system is down" in prompts.FALLBACK_GREETING_RECORDS_DOWN
    assert "colleague" in prompts.FALLBACK_GREETING_RECORDS_DOWN


# -- the call record ----------------------------------------------------------------------------


async def test_the_transcript_redacts_a_bare_pin_after_the_agent_asked_for_it(
        repo: Repository) -> None:
    script = Script([
        reply("Sure. What's your PIN?", when="verify me"),
        reply("Thanks.", when="^2468$"),
    ])
    state = phone_state(repo)
    async with ProviderEmulators(script=script) as emu, \
            AgentSession[CallState](llm=model(emu), userdata=state) as session:
        recorder = CallRecorder(state, session, RecordSink(repo))
        recorder.attach()
        await session.start(PhoneAssistant(state=state))
        await session.run(user_input="can you verify me\u202e please")
        await session.run(user_input="2468")
        await recorder.flush()
    lines = await repo.call_events(state.call_uid, kind="transcript")
    texts = [(e["role"], e["text"]) for e in lines]
    assert ("user", "[PIN]") in texts, texts
    assert ("assistant", "Sure. What's your PIN?") in texts
    assert ("user", "can you verify me please") in texts  # the bidi override is gone
    assert all("2468" not in (t or "") for _, t in texts)


# -- unparseable tool arguments -----------------------------------------------------------------


async def test_unparseable_tool_arguments_are_audited_redacted(repo: Repository) -> None:
    # not JSON, beyond what the framework's json_repair recovers: rejected before the tool
    raw = "2468 / 14.03.1985 / call 415 555 0142"
    script = Script([tool_call("verify_identity", raw, when="verify"),
                     reply("Sorry, could you say that again?", repeat=True)])
    state = phone_state(repo)
    async with ProviderEmulators(script=script) as emu, \
            AgentSession[CallState](llm=model(emu), userdata=state) as session:
        attach_tool_audit(session)
        await session.start(PhoneAssistant(state=state))
        await session.run(user_input="please verify me")
        await wait_until(lambda: bool(emu.llm_requests))
    for _ in range(100):
        entries = await repo.audit_entries(tool="verify_identity")
        if entries:
            break
        await asyncio.sleep(0.05)
    (entry,) = entries
    assert entry.outcome == "invalid_arguments"
    for secret in ("2468", "1985", "14.03", "555 0142"):
        assert secret not in entry.arguments, entry.arguments


# -- confirmation, end to end ---------------------------------------------------------------------


async def test_a_no_then_a_yes_to_another_question_books_nothing(repo: Repository) -> None:
    maria = await repo.customer_by_phone(MARIA)
    assert maria is not None
    slots = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=1)
    sid = str(slots[0].id)
    script = Script([
        tool_call("book_appointment", {"slot_id": sid}, when="book slot"),
        reply("Just to confirm: {tool_output}", when="NOT DONE YET"),
        reply("Okay. Is there anything else I can help with?", when="^No"),
        # the model misbehaves: it takes "yes, sure" as the yes to the old read-back
        tool_call("book_appointment", {"slot_id": sid}, when="^Yes, sure"),
        reply("{tool_output}", when="."),
    ])
    state = phone_state(repo, verified_customer_id=maria.id, verified_with_pin=True)
    async with ProviderEmulators(script=script) as emu, \
            AgentSession[CallState](llm=model(emu), userdata=state) as session:
        await session.start(PhoneAssistant(state=state))
        await session.run(user_input=f"Please book slot {sid}.")
        await session.run(user_input="No.")
        result = await session.run(user_input="Yes, sure.")
        result.expect.next_event().is_function_call(name="book_appointment")
        out = result.expect.next_event().is_function_call_output(is_error=False)
        assert out.event().item.output.startswith("NOT DONE YET")
    assert await repo.is_slot_free(int(sid))
    assert emu.llm_requests  # the model really was in the loop


# -- outbound: "stop calling me" ------------------------------------------------------------------


async def test_stop_calling_me_adds_the_number_and_ends_the_call_politely(
        repo: Repository) -> None:
    callee = "+12125550199"
    script = Script([reply("Sure, let me tell you about your appointment.", repeat=True)])
    state = CallState(room_name="outbound-x",
                      caller=CallerInfo(identity="callee-x", kind="sip", phone_number=callee,
                                        direction="outbound"),
                      services=ToolServices(repo=repo))
    agent = OutboundAssistant(purpose="appointment reminder", state=state)
    closed = asyncio.Event()
    async with ProviderEmulators(script=script) as emu, \
            AgentSession[CallState](llm=model(emu), userdata=state) as session:
        session.on("close", lambda _: closed.set())
        await session.start(agent)
        agent.opened = True  # the call was answered and the opening said
        requests_before = len(emu.llm_requests)
        # The callee's audio turn ends: the framework hands it to the agent's hook first.
        with pytest.raises(StopResponse):  # ...which answers it without the model
            await agent.on_user_turn_completed(
                session.history.copy(), ChatMessage(role="user",
                                                    content=["Please stop calling me."]))
        await asyncio.wait_for(closed.wait(), 20)  # the agent hangs up after the goodbye
        assert len(emu.llm_requests) == requests_before
        said = [i.text_content for i in session.history.items
                if isinstance(i, ChatMessage) and i.role == "assistant"]
    assert any(text and "won't call again" in text for text in said), said
    assert await repo.is_do_not_call(callee)
    assert state.ended_by == "agent"
