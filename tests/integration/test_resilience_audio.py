"""Resilience over real audio: noise and backchannels during a long answer, DeepSeek's
thinking-mode rule on tool calls, and provider faults (LLM 5xx, LLM stall, dropped STT socket,
TTS error) measured as the silence the caller actually hears.

Same harness as test_conversation_audio.py: a `TestCaller` publishes espeak-ng speech through
the local livekit-server; the worker runs the official plugins against the emulators.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from livekit.agents import APIConnectOptions, APIStatusError, function_tool
from livekit.agents import llm as lk_llm
from livekit.plugins import openai

from agent.providers import DEEPSEEK_EXTRA_BODY, LLM_CONN_OPTIONS
from agent.recovery.lines import HOLD
from agent.recovery.lines import TROUBLE as APOLOGY
from devstack.caller import Burst, TestCaller
from emulators import ProviderEmulators
from emulators.deepseek import THINKING_400
from emulators.llm_script import Script, reply, tool_call
from emulators.speech import synthesize

from .conftest import LiveStack
from .test_conversation_audio import GREETING, HOURS, SERVICES, greeting_script, heard
from .test_conversation_audio import start_call as start_greeted_call

# A long answer (~20 s of speech) so there is time to talk over it twice.
LONG_ANSWER = SERVICES + (
    " Our technicians are certified, every visit comes with a written estimate before any work "
    "begins, and all repairs are guaranteed for one full year."
)

# The longest silence a caller may hear after asking, whatever a provider does. Expected gaps:
# a 5xx answered by the apology ~1 s (one immediate retry, then the apology's TTS); a stall
# LLM_CONN_OPTIONS.timeout (4 s) + 0.1 s retry + endpointing/LLM/TTS (< 1 s) ≈ 5 s. With the
# plugin's default 10 s timeout the stall alone would exceed this bound, so the test fails
# if the product's LLM connection policy is lost.
MAX_SILENCE_S = 8.0
# One turn's LLM attempts under the product policy (first try + retries).
LLM_ATTEMPTS = LLM_CONN_OPTIONS.max_retry + 1


def white_noise(seconds: float, rms: float = 3500.0, rate: int = 16000) -> bytes:
    """Gaussian white noise at the RMS of the test callers' voiced speech (~3500)."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, rms, int(seconds * rate))
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()


def speech_seconds(text: str) -> float:
    """How long the emulated TTS speaks `text` (same espeak-ng voice and rate)."""
    return len(synthesize(text, 16000)) / 2 / 16000


async def start_call(stack: LiveStack, script: Script) -> TestCaller:
    caller, _ = await start_greeted_call(stack, script)
    return caller


async def ask(caller: TestCaller, question: str, within: float = 30.0
              ) -> tuple[float, Burst]:
    """Say `question`; return (silence before the first agent audio, the full answer)."""
    end = await caller.say(synthesize(question))
    answer = await caller.wait_for_speech(after=end, within=within)
    await caller.wait_until_quiet(answer)
    return answer.start - end, answer


def part(burst: Burst, text: str, *, last: bool = False) -> Burst:
    """The opening (or `last`: the closing) stretch of `burst` as long as `text` spoken: two
    lines with less than the caller's burst gap between them arrive as one burst."""
    n = int((speech_seconds(text) + 0.3) * 48000) * 2
    pcm = burst.pcm[-n:] if last else burst.pcm[:n]
    return Burst(burst.start, burst.start + len(pcm) / 96000, bytearray(pcm))


async def wait_for_silence(caller: TestCaller, quiet_s: float, within: float = 60.0) -> None:
    """Until the agent has made no sound for `quiet_s` (longer than any pause and resume)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        last = caller.bursts[-1].end if caller.bursts else 0.0
        if time.monotonic() - last > quiet_s:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the agent never went quiet")


# --- noise and backchannels ---------------------------------------------------------------

async def test_noise_and_backchannel_do_not_derail_a_long_answer(stack: LiveStack) -> None:
    """A 250 ms noise burst and a transcribed "mm hmm" over a long answer: the answer is
    spoken to the end, and no extra LLM turn (no reply to the noise or the backchannel)."""
    caller = await start_call(stack, greeting_script(reply(LONG_ANSWER, when="services")))
    try:
        end = await caller.say(synthesize("can you tell me about your services"))
        first = await caller.wait_for_speech(after=end, within=20)
        requests_before = len(stack.emulators.llm_requests)

        await asyncio.sleep(2.0)
        await caller.say(white_noise(0.25))
        await asyncio.sleep(3.0)
        mm_start = time.monotonic()
        await caller.say(synthesize("mm hmm"))
        await wait_for_silence(caller, quiet_s=3.0)

        # The realistic case: Deepgram (filler_words=true) does transcribe a backchannel.
        assert "mm hmm" in stack.emulators.stt_transcripts, \
            "the STT should have transcribed the backchannel (realistic case)"
        # No new turn: neither the noise nor "mm hmm" reached the LLM.
        assert len(stack.emulators.llm_requests) == requests_before, (
            "an extra LLM request was made for noise/backchannel: "
            f"{[r['messages'][-1] for r in stack.emulators.llm_requests[requests_before:]]}")
        assert not any("mm hmm" in str(r["messages"]) for r in stack.emulators.llm_requests)
        # The answer was spoken to its end: total agent audio ≈ the whole answer (an answer
        # cut at the backchannel would be ~6 s of ~20 s), and it went on after "mm hmm".
        answer = caller.speech_after(first.start)
        spoken = sum(b.duration for b in answer)
        full = speech_seconds(LONG_ANSWER)
        assert spoken > 0.85 * full, f"only {spoken:.1f} s of a {full:.1f} s answer was heard"
        assert answer[-1].end > mm_start + 3.0, "the answer did not continue after 'mm hmm'"
        assert stack.emulators.tts_texts[-1].startswith("We repair heating"), \
            "no new speech should have been synthesized after the answer"
    finally:
        await caller.__aexit__(None, None, None)


# --- DeepSeek thinking mode and tool calls -------------------------------------------------

async def test_tool_round_trip_over_audio_succeeds_with_product_config(stack: LiveStack
                                                                      ) -> None:
    """The request after the tool call (it carries the assistant's tool_calls and the tool's
    output) is accepted by the thinking-mode rule, and the answer built from it is spoken."""
    script = greeting_script(
        tool_call("list_available_slots", {"date": "", "service": ""}, when="services"),
        reply("I found {tool_output}", when=r"."),
    )
    caller = await start_call(stack, script)
    try:
        gap, answer = await ask(caller, "can you tell me about your services")
        emu = stack.emulators
        after_tool = [r for r in emu.llm_requests
                      if any(m.get("role") == "tool" for m in r["messages"])]
        assert after_tool, "the tool's result must go back to the model"
        assert all(r["thinking"] == {"type": "disabled"} for r in emu.llm_requests), [
            (r["thinking"], str(r["messages"][-1])[:120]) for r in emu.llm_requests]
        assert any(m.get("tool_calls") for m in after_tool[0]["messages"]
                   if m.get("role") == "assistant")
        # Every request got a 200 answer (the emulator records a response only past the
        # thinking-mode check), i.e. no 400 on the round trip.
        assert len(emu.state.llm_responses) == len(emu.llm_requests)
        assert "I found" in " ".join(emu.tts_texts)
        assert answer.duration > 1.0 and gap < MAX_SILENCE_S
    finally:
        await caller.__aexit__(None, None, None)


@function_tool
async def list_available_slots(date: str, service: str) -> str:
    """List free appointment slots."""
    return "Tuesday at ten"


async def _tool_round_trip(emu: ProviderEmulators, model: openai.LLM) -> None:
    """First request → a tool call; second request with the call and its output."""
    opts = APIConnectOptions(max_retry=0, timeout=5.0)
    ctx = lk_llm.ChatContext()
    ctx.add_message(role="user", content="which slots are free")
    calls: list[lk_llm.FunctionToolCall] = []
    async with model.chat(chat_ctx=ctx, tools=[list_available_slots],
                          conn_options=opts) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.tool_calls:
                calls.extend(chunk.delta.tool_calls)
    assert calls and calls[0].name == "list_available_slots"
    for c in calls:
        ctx.items.append(lk_llm.FunctionCall(call_id=c.call_id, name=c.name,
                                             arguments=c.arguments))
        ctx.items.append(lk_llm.FunctionCallOutput(call_id=c.call_id, name=c.name,
                                                   output="Tuesday at ten", is_error=False))
    text = ""
    async with model.chat(chat_ctx=ctx, tools=[list_available_slots],
                          conn_options=opts) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text += chunk.delta.content
    assert "Tuesday at ten" in text


@pytest.mark.parametrize("extra_body", [DEEPSEEK_EXTRA_BODY, None],
                         ids=["thinking-disabled", "thinking-default"])
async def test_tool_round_trip_needs_thinking_disabled(extra_body: dict | None) -> None:
    """Against the emulator's DeepSeek rule, with the official openai plugin in-process: the
    product's `thinking: disabled` makes the round trip work; without it the second request is
    rejected with HTTP 400 (the plugin never sends `reasoning_content` back)."""
    script = Script([tool_call("list_available_slots", {"date": "", "service": ""}),
                     reply("The free slot is {tool_output}.")])
    async with ProviderEmulators(script=script) as emu:
        kwargs = {"extra_body": extra_body} if extra_body else {}
        model = openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                           api_key=emu.env()["DEEPSEEK_API_KEY"], **kwargs)
        try:
            if extra_body:
                await _tool_round_trip(emu, model)
                assert emu.state.llm_responses[0]["thinking"] is False
            else:
                with pytest.raises(APIStatusError) as info:
                    await _tool_round_trip(emu, model)
                assert info.value.status_code == 400
                assert THINKING_400 in str(info.value)
                assert emu.state.llm_responses[0]["thinking"] is True
                assert len(emu.llm_requests) == 2  # the second request was the one refused
        finally:
            await model.aclose()


# --- provider faults ----------------------------------------------------------------------

async def test_llm_5xx_is_answered_with_an_apology_and_the_call_goes_on(stack: LiveStack
                                                                       ) -> None:
    caller = await start_call(stack, greeting_script(reply(HOURS, when="opening hours")))
    try:
        # Every attempt of the turn fails (the first try and each retry): the turn is lost.
        stack.emulators.faults.update({"llm_error_status": 503,
                                       "llm_error_count": LLM_ATTEMPTS})
        gap, apology = await ask(caller, "where is my order")
        assert stack.emulators.faults.fired.count("llm_error_status") == LLM_ATTEMPTS
        assert gap < MAX_SILENCE_S, f"{gap:.1f} s of dead air after an LLM 503"
        assert heard(apology, APOLOGY, HOURS, GREETING) == APOLOGY
        # The session survived: the next question is answered normally.
        gap2, answer = await ask(caller, "what are your opening hours")
        assert heard(answer, HOURS, APOLOGY, GREETING) == HOURS
        assert gap2 < 3.0
    finally:
        await caller.__aexit__(None, None, None)


async def test_llm_stall_is_cut_short_and_answered(stack: LiveStack) -> None:
    # `repeat`: the stalled request consumes a script turn too; the retry needs the same line.
    caller = await start_call(stack, greeting_script(
        reply(HOURS, when="opening hours", repeat=True)))
    try:
        stack.emulators.faults.update({"llm_stall_s": 30.0})  # far beyond any timeout
        spoken_before = len(stack.emulators.tts_texts)  # captures span the whole session
        requests_before = len(stack.emulators.llm_requests)
        end = await caller.say(synthesize("what are your opening hours"))
        first = await caller.wait_for_speech(after=end, within=10)
        await wait_for_silence(caller, quiet_s=2.5)
        # The caller is not left in silence while the request is waited out: the watchdog's
        # pre-rendered hold line, on the recovery track (how soon: bench.faults). The answer
        # may follow it within the caller's burst gap: hear the burst's opening.
        assert heard(part(first, HOLD), HOLD, HOURS, APOLOGY, GREETING) == HOLD
        # ...the stalled request was cut off and retried (not waited out for 30 s)...
        assert "llm_stall_s" in stack.emulators.faults.fired
        assert len(stack.emulators.llm_requests) - requests_before >= 2
        # ...and the retry answered: the real answer, no apology talking over it.
        assert any(heard(b, HOURS, HOLD, APOLOGY, GREETING) == HOURS
                   for b in caller.speech_after(end)) or (
            first.duration > speech_seconds(HOLD) + 2.0
            and HOURS in stack.emulators.tts_texts[spoken_before:])
        assert not any(APOLOGY in t for t in stack.emulators.tts_texts[spoken_before:])
        gap2, answer2 = await ask(caller, "what are your opening hours")
        assert heard(answer2, HOURS, APOLOGY, GREETING) == HOURS
        assert gap2 < 3.0
    finally:
        await caller.__aexit__(None, None, None)


async def test_dropped_stt_socket_reconnects(stack: LiveStack) -> None:
    caller = await start_call(stack, greeting_script(reply(HOURS, when="opening hours")))
    try:
        connections = len(stack.emulators.stt_connections)
        # The socket has carried more than 1 s of audio already: it drops at once.
        stack.emulators.faults.update({"stt_drop_after_s": 1.0})
        t0 = time.monotonic()
        while len(stack.emulators.stt_connections) == connections:
            assert time.monotonic() - t0 < 15, "the STT plugin did not reconnect"
            await asyncio.sleep(0.1)
        assert "stt_drop_after_s" in stack.emulators.faults.fired
        await asyncio.sleep(0.5)
        gap, answer = await ask(caller, "what are your opening hours")
        assert heard(answer, HOURS, APOLOGY, GREETING) == HOURS
        assert gap < 3.0
    finally:
        await caller.__aexit__(None, None, None)


async def test_tts_error_does_not_end_the_session(stack: LiveStack) -> None:
    caller = await start_call(stack, greeting_script(
        reply(SERVICES, when="services"), reply(HOURS, when="opening hours")))
    try:
        stack.emulators.faults.update({"tts_error": "emulated synthesis failure"})
        end = await caller.say(synthesize("can you tell me about your services"))
        t0 = time.monotonic()
        while "tts_error" not in stack.emulators.faults.fired:
            assert time.monotonic() - t0 < 15, "the TTS fault never fired"
            await asyncio.sleep(0.1)
        # The plugin retries a context that failed before any audio: the answer is heard.
        first = await caller.wait_for_speech(after=end, within=20)
        await caller.wait_until_quiet(first)
        assert first.start - end < MAX_SILENCE_S
        assert heard(first, SERVICES, HOURS, GREETING) == SERVICES
        gap, answer = await ask(caller, "what are your opening hours")
        assert heard(answer, HOURS, SERVICES, GREETING) == HOURS
        assert gap < 3.0
    finally:
        await caller.__aexit__(None, None, None)
