"""No turn ends in silence: a real AgentSession (text mode) with the production assistant and
the reply guard, the model being the official openai plugin against the DeepSeek emulator.
Each case is one way a model can answer with nothing speakable; the caller must still get a
line, and the call record an event saying why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from livekit.agents import AgentSession, APIError, llm
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.plugins import openai

from agent.assistant import PhoneAssistant
from agent.call_state import CallerInfo, CallState
from agent.config import load_settings
from agent.data.repository import Repository
from agent.providers import DEEPSEEK_EXTRA_BODY, LLM_CONN_OPTIONS
from agent.recovery import lines
from agent.recovery.handover import Handover
from agent.recovery.replies import ReplyGuard
from agent.recovery.voice import PrerenderedVoice
from agent.telephony.destinations import TransferPlan
from agent.tools import ToolServices, attach_tool_audit
from emulators import ProviderEmulators
from emulators.llm_script import Script, reply, tool_call

from ..unit.test_config import GOOD
from . import test_business_tools as business

repo = business.repo  # the seeded-database fixture
SLOTS = {"date": "", "service": ""}


@asynccontextmanager
async def guarded_call(script: Script, repo: Repository, tmp_path: Path
                       ) -> AsyncIterator[tuple[AgentSession[CallState], ProviderEmulators,
                                                list[tuple[str, str]]]]:
    state = CallState(room_name="r", caller=CallerInfo(identity="sip_x", kind="sip",
                                                       phone_number="+14155550142"),
                      services=ToolServices(repo=repo, filler_delay=5.0))
    settings = load_settings({**GOOD, "FAILOVER_STATE_DIR": str(tmp_path)})
    events: list[tuple[str, str]] = []
    async with ProviderEmulators() as emu:
        model = openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                           api_key=emu.env()["DEEPSEEK_API_KEY"], extra_body=DEEPSEEK_EXTRA_BODY)
        async with AgentSession[CallState](
                llm=model, userdata=state, max_tool_steps=4,
                conn_options=SessionConnectOptions(llm_conn_options=LLM_CONN_OPTIONS)) as s:
            attach_tool_audit(s)
            voice = PrerenderedVoice.load(settings)
            handover = Handover(s, state, plan=TransferPlan({}, None), voice=voice, repo=repo,
                                on_event=lambda k, d: events.append((k, d)),
                                on_transfer=lambda _: None)
            ReplyGuard(s, state, voice=voice, handover=handover,
                       on_event=lambda k, d: events.append((k, d)), max_tool_steps=4
                       ).attach(None)
            await s.start(PhoneAssistant(state=state))
            for _ in range(50):  # the greeting (the emulator's polite fallback) first
                if said(s):
                    break
                await asyncio.sleep(0.1)
            emu.script.add(*script.remaining)  # then the caller's turns
            yield s, emu, events


def said(session: AgentSession[CallState]) -> list[str]:
    return [i.text_content or "" for i in session.history.items
            if isinstance(i, llm.ChatMessage) and i.role == "assistant"]


async def turn(session: AgentSession[CallState], text: str) -> None:
    try:
        await session.run(user_input=text)
    except APIError:  # RunResult surfaces the failed model; the guard's reply follows
        pass
    before = len(said(session))
    for _ in range(30):  # the guard speaks once the reply is done
        await asyncio.sleep(0.1)
        if len(said(session)) > before:
            await asyncio.sleep(0.2)
            return


async def test_empty_answer_gets_a_line(repo: Repository, tmp_path: Path) -> None:
    script = Script([reply("", when="opening hours")])
    async with guarded_call(script, repo, tmp_path) as (session, _, events):
        await turn(session, "what are your opening hours")
        assert said(session)[-1] == lines.DIDNT_GET_THAT
        assert ("silent_turn", "empty answer") in events


async def test_stream_that_ends_without_text_gets_a_line(repo: Repository,
                                                         tmp_path: Path) -> None:
    async with guarded_call(Script(), repo, tmp_path) as (session, emu, events):
        emu.faults.update({"llm_empty_stream": True})
        await turn(session, "what are your opening hours")
        assert said(session)[-1] == lines.DIDNT_GET_THAT
        assert [k for k, _ in events] == ["silent_turn"]


async def test_tool_call_past_the_step_limit_from_an_endpoint_ignoring_tool_choice(
        repo: Repository, tmp_path: Path) -> None:
    """The framework's last step asks with tool_choice="none"; an endpoint that calls a tool
    anyway is ignored by the framework ("received a tool call with tool_choice set to 'none'"),
    which used to end the turn in silence."""
    script = Script([tool_call("list_available_slots", SLOTS, when=".", repeat=True)])
    async with guarded_call(script, repo, tmp_path) as (session, emu, events):
        emu.faults.update({"llm_ignore_tool_choice": True, "llm_ignore_tool_choice_count": 99})
        await turn(session, "I would like to book an appointment")
        assert emu.llm_requests[-1]["tool_choice"] == "none"
        assert said(session)[-1] == lines.DIDNT_GET_THAT
        (kind, reason), = events
        assert kind == "silent_turn" and reason.startswith("tool-step limit reached")


async def test_the_emulator_honours_tool_choice_so_the_last_step_speaks(
        repo: Repository, tmp_path: Path) -> None:
    script = Script([tool_call("list_available_slots", SLOTS, when=".", repeat=True),
                     reply("I could not find a free slot, sorry.")])
    async with guarded_call(script, repo, tmp_path) as (session, emu, events):
        await turn(session, "I would like to book an appointment")
        assert emu.llm_requests[-1]["tool_choice"] == "none"
        assert said(session)[-1] == "I could not find a free slot, sorry."
        assert events == []


async def test_tool_loop_without_an_answer_gets_a_line(repo: Repository,
                                                       tmp_path: Path) -> None:
    script = Script([tool_call("list_available_slots", SLOTS, when="appointment"),
                     tool_call("list_available_slots", SLOTS, when="."),
                     reply("", when=".")])
    async with guarded_call(script, repo, tmp_path) as (session, _, events):
        await turn(session, "I would like to book an appointment")
        assert said(session)[-1] == lines.DIDNT_GET_THAT
        (kind, reason), = events
        assert kind == "silent_turn" and reason.startswith("tool loop")


async def test_failed_model_gets_the_hold_line_and_one_retry(repo: Repository,
                                                             tmp_path: Path) -> None:
    script = Script([reply("We open at eight.", when="opening hours", repeat=True)])
    async with guarded_call(script, repo, tmp_path) as (session, emu, events):
        emu.faults.update({"llm_error_status": 503, "llm_error_count": 2})  # both attempts
        await turn(session, "what are your opening hours")
        for _ in range(50):  # the hold line, then the retried turn's answer
            if said(session)[-1] == "We open at eight.":
                break
            await asyncio.sleep(0.1)
        assert said(session)[-2:] == [lines.TROUBLE, "We open at eight."]
        assert [k for k, _ in events] == ["reply_retried"]


# --- the handover: a human, else a callback offer on the keypad -----------------------------


@asynccontextmanager
async def handover_call(repo: Repository, tmp_path: Path, plan: TransferPlan, outcome: bool,
                        records: Any = None
                        ) -> AsyncIterator[tuple[Handover, CallState, list[Any]]]:
    from agent.telephony.cold_transfer import TransferOutcome

    state = CallState(room_name="r", caller=CallerInfo(identity="sip_x", kind="sip",
                                                       phone_number="+14155550142"),
                      services=ToolServices(repo=repo, filler_delay=5.0))
    settings = load_settings({**GOOD, "FAILOVER_STATE_DIR": str(tmp_path)})
    log: list[Any] = []

    async def transfer(st: CallState, pl: TransferPlan, dept: str) -> TransferOutcome:
        log.append(("transfer", dept))
        return TransferOutcome(outcome, pl.candidates(dept)[0] if outcome else None, "fake")

    async with ProviderEmulators() as emu:
        model = openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                           api_key=emu.env()["DEEPSEEK_API_KEY"], extra_body=DEEPSEEK_EXTRA_BODY)
        async with AgentSession[CallState](llm=model, userdata=state) as s:
            await s.start(PhoneAssistant(state=state))
            yield (Handover(s, state, plan=plan, voice=PrerenderedVoice.load(settings),
                            repo=repo if records is None else records,
                            on_event=lambda k, d: log.append((k, d)),
                            on_transfer=lambda o: log.append(("outcome", o.ok)),
                            transfer=transfer), state, log)


async def test_handover_transfers_when_a_destination_answers(repo: Repository,
                                                             tmp_path: Path) -> None:
    plan = TransferPlan({"support": "sip:support@127.0.0.1:5090"}, None)
    async with handover_call(repo, tmp_path, plan, outcome=True) as (handover, state, log):
        await handover.run("llm: every model failed")
    assert ("transfer", "support") in log and ("outcome", True) in log
    assert state.ended_by == "transfer"
    assert log[-1] == ("handover", "llm: every model failed; transferred to "
                       "sip:support@127.0.0.1:5090")


async def test_handover_offers_a_callback_on_the_keypad(repo: Repository,
                                                        tmp_path: Path) -> None:
    plan = TransferPlan({}, None)  # nowhere to transfer to
    async with handover_call(repo, tmp_path, plan, outcome=False) as (handover, state, log):
        run = asyncio.create_task(handover.run("tts: the voice failed twice"))
        for _ in range(100):  # the offer is played, then "1" is awaited
            if handover.on_digit("1"):
                break
            await asyncio.sleep(0.1)
        await run
    callbacks = await repo.callbacks()
    assert [c.phone_e164 for c in callbacks] == ["+14155550142"]
    assert await repo.count_callbacks(call_id=state.call_uid) == 1
    assert "tts" in (callbacks[0].reason or "")
    assert log[-1] == ("handover", "tts: the voice failed twice; callback booked on the keypad")
    assert state.ended_by == "agent"


async def test_no_callback_is_offered_while_the_database_is_down(repo: Repository,
                                                                 tmp_path: Path) -> None:
    """A callback that can't be stored would be a promise nobody keeps."""
    plan = TransferPlan({}, None)
    async with handover_call(repo, tmp_path, plan, outcome=False,
                             records=lambda: None) as (handover, state, log):
        await asyncio.wait_for(handover.run("llm: every model failed"), 60)
        assert not handover.on_digit("1"), "no keypad offer may be waiting"
    assert await repo.count_callbacks(call_id=state.call_uid) == 0
    assert log[-1] == ("handover", "llm: every model failed; no transfer or callback, "
                       "call ended")
    assert state.ended_by == "agent"

