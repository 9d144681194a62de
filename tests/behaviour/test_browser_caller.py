"""A browser caller (the web page, no phone leg): the prompt turns "talk to a person" into a
callback offer, and the callback is taken without a caller number to fall back on.

A real AgentSession with the production PhoneAssistant; the "model" is the official openai
plugin against the DeepSeek emulator, scripted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent import prompts
from agent.call_state import CallerInfo, CallState
from agent.data.repository import Repository
from agent.tools import ToolServices
from emulators.llm_script import Script, reply, tool_call

from .test_business_tools import call_session

NUMBER = {"phone_number": "415 555 0199"}


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    r = await Repository.open(f"sqlite:///{tmp_path}/web.db")
    try:
        yield r
    finally:
        await r.close()


def test_browser_prompt_offers_a_callback_instead_of_a_transfer() -> None:
    web = prompts.instructions(CallerInfo(identity="web-1", kind="browser"))
    phone = prompts.instructions(CallerInfo(identity="sip_1", kind="sip"))
    assert "transfer them" in phone and "transfer the caller to a person" in phone
    assert "transfer" not in web
    assert "offer a callback" in web and "capture_callback_number" in web
    assert "web page" in prompts.caller_context(CallerInfo(kind="browser"))


async def test_browser_caller_asking_for_a_person_gets_a_callback(repo: Repository) -> None:
    script = Script([
        reply("Nobody can join this web call, but a colleague can call you back. What number "
              "should they call?", when="talk to a person"),
        tool_call("capture_callback_number", NUMBER, when="0199"),
        reply("{tool_output}", when="NOT DONE YET"),
        tool_call("capture_callback_number", NUMBER, when="^yes"),
        reply("Done. {tool_output}", when="saved"),
    ])
    state = CallState(room_name="web-test", caller=CallerInfo(identity="web-1", kind="browser"),
                      services=ToolServices(repo=repo))
    async with call_session(script, state) as (sess, emu):
        result = await sess.run(user_input="Can I talk to a person please?")
        result.expect.next_event().is_message(role="assistant")
        result.expect.no_more_events()
        system = emu.llm_requests[-1]["messages"][0]["content"]
        assert "offer a callback" in system and "transfer them" not in system

        await sess.run(user_input="Sure, it's 415 555 0199.")
        assert await repo.callbacks() == []  # read back first, nothing saved yet
        result = await sess.run(user_input="Yes, that's right.")
        result.expect.next_event().is_function_call(name="capture_callback_number")
        saved = result.expect.next_event().is_function_call_output(is_error=False)
        assert "Callback request saved" in saved.event().item.output
    assert [c.phone_e164 for c in await repo.callbacks()] == ["+14155550199"]
    assert await repo.count_callbacks(call_id=state.call_uid) == 1
