"""Conversations over real audio through the local livekit-server.

A test caller publishes espeak-ng speech; the worker hears it through the official Deepgram
plugin (emulated service, real recognition), answers through the official OpenAI plugin
(DeepSeek emulator following the test's script) and speaks through the official ElevenLabs
plugin (emulated service, real synthesis). The caller records the agent and recognizes it.
"""

from __future__ import annotations

import asyncio
import time

from devstack.caller import Burst, TestCaller, downsample_48k_to_16k
from emulators.llm_script import Script, reply, tool_call
from emulators.recognizer import get_recognizer
from emulators.speech import synthesize

from .conftest import LiveStack

GREETING = "Hello, this is the Northwind AI assistant. How can I help you today?"
HOURS = "We are open from eight in the morning until six in the evening."
SERVICES = (
    "We repair heating and cooling systems, we clean ducts, we service water heaters, "
    "we install thermostats, and we offer yearly maintenance plans for every kind of home."
)
# Distractors make recognition a real choice, not a formality.
DISTRACTORS = [
    "Your order has shipped and will arrive tomorrow.",
    "Sorry, I did not catch that. Could you say it again?",
    "Goodbye and thank you for calling.",
]


def heard(burst: Burst, expected: str, *others: str) -> str | None:
    """What the caller heard in `burst`, chosen among `expected` and distractors."""
    phrases = [expected, *others, *DISTRACTORS]
    return get_recognizer(phrases).recognize(downsample_48k_to_16k(burst.pcm), 16000).text


def greeting_script(*turns) -> Script:  # type: ignore[no-untyped-def]
    return Script([reply(GREETING, when=r"greet the caller"), *turns])


async def start_call(stack: LiveStack, script: Script) -> tuple[TestCaller, Burst]:
    stack.reset(script)
    caller = stack.caller()
    await caller.__aenter__()
    await asyncio.wait_for(caller.agent_joined.wait(), 30)
    greeting = await caller.wait_for_speech(after=0.0, within=30)
    await caller.wait_until_quiet(greeting)
    return caller, greeting


async def test_greeting_is_heard_by_the_caller(stack: LiveStack) -> None:
    caller, greeting = await start_call(stack, greeting_script())
    try:
        assert greeting.duration > 1.5, "the greeting should be a sentence, not a blip"
        assert heard(greeting, GREETING, HOURS) == GREETING
        # The LLM was asked to disclose the AI, and the request carried thinking: disabled.
        first = stack.emulators.llm_requests[0]
        assert first["thinking"] == {"type": "disabled"}
        assert "AI assistant" in str(first["messages"])
    finally:
        await caller.__aexit__(None, None, None)


async def test_question_gets_a_spoken_answer(stack: LiveStack) -> None:
    script = greeting_script(reply(HOURS, when="opening hours"))
    caller, _ = await start_call(stack, script)
    try:
        end = await caller.say(synthesize("what are your opening hours"))
        answer = await caller.wait_for_speech(after=end, within=20)
        await caller.wait_until_quiet(answer)
        assert "what are your opening hours" in stack.emulators.stt_transcripts
        assert heard(answer, HOURS, GREETING) == HOURS
    finally:
        await caller.__aexit__(None, None, None)


async def test_tool_call_result_is_spoken(stack: LiveStack) -> None:
    """The tool's real output (from the database) flows into the spoken answer."""
    script = greeting_script(
        tool_call("list_available_slots", {"date": "", "service": ""}, when="services"),
        reply("I found {tool_output}", when=r"."),
    )
    caller, _ = await start_call(stack, script)
    try:
        end = await caller.say(synthesize("can you tell me about your services"))
        answer = await caller.wait_for_speech(after=end, within=30)
        await caller.wait_until_quiet(answer)
        tool_results = [m for r in stack.emulators.llm_requests for m in r["messages"]
                        if m.get("role") == "tool"]
        assert tool_results, "the tool's result must go back to the model"
        spoken = " ".join(stack.emulators.tts_texts)
        assert "I found" in spoken
        assert answer.duration > 1.0
    finally:
        await caller.__aexit__(None, None, None)


async def test_barge_in_stops_the_answer_and_answers_the_new_question(stack: LiveStack) -> None:
    script = greeting_script(
        reply(SERVICES, when="services"),
        reply(HOURS, when="opening hours"),
    )
    caller, _ = await start_call(stack, script)
    try:
        end = await caller.say(synthesize("can you tell me about your services"))
        long_answer = await caller.wait_for_speech(after=end, within=20)
        await asyncio.sleep(1.5)  # let the long answer run, then talk over it
        barge_start = time.monotonic()
        end2 = await caller.say(synthesize("what are your opening hours"))
        # The agent went quiet while the caller was talking over it...
        assert long_answer.end < end2, "agent should stop while the caller talks"
        stopped_after = long_answer.end - barge_start
        assert stopped_after < 1.5, f"agent kept talking {stopped_after:.2f} s into barge-in"
        answer = await caller.wait_for_speech(after=end2, within=20)
        await caller.wait_until_quiet(answer)
        assert heard(answer, HOURS, SERVICES) == HOURS
        # ...and exactly one answer followed: no resumed stale answer, no second reply.
        await asyncio.sleep(2.0)
        assert len(caller.speech_after(end2)) == 1
    finally:
        await caller.__aexit__(None, None, None)
