"""The assistant's conversational behaviour in a real AgentSession (text mode), the model
being the official openai plugin against the DeepSeek emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from livekit.agents import AgentSession
from livekit.plugins import openai

from agent import prompts
from agent.assistant import PhoneAssistant
from agent.call_state import CallerInfo, CallState
from agent.providers import DEEPSEEK_EXTRA_BODY
from agent.speech_text import speech_text_transform
from emulators import ProviderEmulators
from emulators.llm_script import Script, error, reply

GREETING = "Hi, you're speaking with Northwind's AI assistant. How can I help?"


@pytest.fixture
async def emu() -> AsyncIterator[ProviderEmulators]:
    async with ProviderEmulators(script=Script()) as e:
        yield e


def model(emu: ProviderEmulators) -> openai.LLM:
    return openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                      api_key=emu.env()["DEEPSEEK_API_KEY"], extra_body=DEEPSEEK_EXTRA_BODY)


def phone_state() -> CallState:
    return CallState(room_name="r", caller=CallerInfo(identity="sip_x", kind="sip",
                                                      phone_number="+14155550142"))


async def test_greeting_discloses_the_ai(emu: ProviderEmulators) -> None:
    emu.script.add(reply(GREETING, when="greet the caller"))
    async with AgentSession[CallState](llm=model(emu), userdata=phone_state()) as session:
        result = await session.start(PhoneAssistant(state=phone_state()), capture_run=True)
        result.expect.next_event().is_agent_handoff(new_agent_type=PhoneAssistant)
        greeting = result.expect.next_event().is_message(role="assistant")
        result.expect.no_more_events()
    greeting_request = emu.llm_requests[0]
    sent = str(greeting_request["messages"])
    assert "AI assistant" in sent  # the model is told to disclose it
    assert "ending in 0142" in sent and "+14155550142" not in sent  # masked caller number
    assert greeting.event().item.text_content == GREETING


async def test_greeting_falls_back_to_a_fixed_disclosure_when_the_llm_fails(
        emu: ProviderEmulators) -> None:
    emu.script.add(error(400, when="greet the caller"))
    async with AgentSession[CallState](llm=model(emu), userdata=phone_state()) as session:
        result = await session.start(PhoneAssistant(state=phone_state()), capture_run=True)
        messages = [e.item.text_content for e in result.events
                    if getattr(e, "type", "") == "message"]
    assert prompts.FALLBACK_GREETING in messages
    assert "AI assistant" in prompts.FALLBACK_GREETING


async def test_instructions_are_written_for_the_ear(emu: ProviderEmulators) -> None:
    emu.script.add(reply(GREETING, when="greet the caller"),
                   reply("We open at eight.", when="opening"))
    async with AgentSession[CallState](llm=model(emu), userdata=phone_state()) as session:
        await session.start(PhoneAssistant(state=phone_state()))
        result = await session.run(user_input="when are you opening tomorrow")
        result.expect.next_event().is_message(role="assistant")
        result.expect.no_more_events()
    system = emu.llm_requests[-1]["messages"][0]["content"]
    for rule in ("one or two short sentences", "one question at a time", "No markdown",
                 "confirm", "succeeded unless a tool", "transfer them"):
        assert rule in system


async def test_markdown_and_codes_never_reach_the_voice() -> None:
    """Whatever the model writes, the TTS gets plain spoken text."""
    async def stream() -> AsyncIterator[str]:
        for chunk in ["**Sure!** Your order #A12", "345 ships on 2026-11-", "24 and costs $12",
                      ".50.\n- Call us at (415) 555-0100."]:
            yield chunk

    spoken = "".join([c async for c in speech_text_transform(stream())])
    assert "*" not in spoken and "#" not in spoken and "- " not in spoken
    assert "twelve dollars and fifty cents" in spoken
    assert "A one two three four five" in spoken
    assert "November twenty-fourth" in spoken
    assert "four one five, five five five, zero one zero zero" in spoken
