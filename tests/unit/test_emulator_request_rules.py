"""The chat emulator honours the request fields that constrain an answer, as the real API
does (tool_choice, tools, parallel_tool_calls, max_tokens, stop), plays the faults that end a
stream early, and serves the backup endpoint — all through the official openai plugin."""

from __future__ import annotations

import aiohttp
import pytest
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError
from livekit.agents.llm import function_tool
from livekit.plugins import openai

from emulators import ProviderEmulators
from emulators.llm_script import Script, ToolCall, Turn, reply, tool_call
from emulators.state import BACKUP_LLM_MODEL

from .test_emulator_deepseek import DISABLED, collect, get_weather, make_llm, user_ctx

ONCE = APIConnectOptions(max_retry=0, timeout=5.0)


@function_tool
async def get_time(city: str) -> str:
    """Get the local time in a city."""
    return "noon"


async def test_tool_choice_none_gets_text_not_the_scripted_call() -> None:
    """The framework's last step after too many tool calls asks with tool_choice="none":
    the scripted call gives way to the next line that speaks, which stays in order."""
    script = Script([tool_call("get_weather", {"location": "Kyiv"}, repeat=True),
                     reply("I could not look that up, sorry.")])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu)
        text, calls, _ = await collect(model.chat(
            chat_ctx=user_ctx("weather?"), tools=[get_weather], tool_choice="none",
            conn_options=ONCE))
        assert calls == [] and text == "I could not look that up, sorry."
        assert emu.llm_requests[0]["tool_choice"] == "none"
        # auto: the (repeating) scripted call goes through
        _, calls, _ = await collect(model.chat(chat_ctx=user_ctx("weather?"),
                                               tools=[get_weather], conn_options=ONCE))
        assert [c.name for c in calls] == ["get_weather"]
        # no tools at all: nothing scripted speaks any more, so the polite echo answers
        text, calls, _ = await collect(model.chat(chat_ctx=user_ctx("weather?"),
                                                  conn_options=ONCE))
        assert calls == [] and text == "You said: weather?."
        await model.aclose()


async def test_required_and_named_choice_force_a_declared_call() -> None:
    script = Script([reply("Just text."), reply("More text.")])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu)
        _, calls, _ = await collect(model.chat(
            chat_ctx=user_ctx("time?"), tools=[get_weather, get_time], tool_choice="required",
            conn_options=ONCE))
        assert [(c.name, c.arguments) for c in calls] == [("get_weather", "{}")]
        _, calls, _ = await collect(model.chat(
            chat_ctx=user_ctx("time?"), tools=[get_weather, get_time],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
            conn_options=ONCE))
        assert [c.name for c in calls] == ["get_time"]
        await model.aclose()


async def test_undeclared_tools_parallel_false_max_tokens_and_stop() -> None:
    script = Script([
        Turn(tool_calls=[ToolCall("delete_everything", {}), ToolCall("get_weather", {}),
                         ToolCall("get_weather", {"location": "Paris"})]),
        reply("one two three four five six"),
        reply("Open till six. Anything else?"),
    ])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu, parallel_tool_calls=False)
        _, calls, _ = await collect(model.chat(chat_ctx=user_ctx("x"), tools=[get_weather],
                                               conn_options=ONCE))
        assert [(c.name, c.arguments) for c in calls] == [("get_weather", "{}")]
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("x"), conn_options=ONCE,
                                              extra_kwargs={"max_tokens": 3}))
        assert text == "one two three "
        assert emu.state.llm_responses[-1]["finish_reason"] == "length"
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("x"), conn_options=ONCE,
                                              extra_kwargs={"stop": [" Anything"]}))
        assert text == "Open till six."
        await model.aclose()


async def test_bad_tool_choice_is_a_400_like_the_api() -> None:
    async with ProviderEmulators(script=Script([reply("x", repeat=True)])) as emu:
        model = make_llm(emu)
        with pytest.raises(APIStatusError) as info:
            await collect(model.chat(
                chat_ctx=user_ctx("x"), tools=[get_weather], conn_options=ONCE,
                tool_choice={"type": "function", "function": {"name": "get_time"}}))
        assert info.value.status_code == 400 and "not in tools" in str(info.value)
        await model.aclose()


async def test_an_endpoint_that_ignores_tool_choice() -> None:
    script = Script([tool_call("get_weather", {"location": "Kyiv"})])
    async with ProviderEmulators(script=script) as emu:
        emu.faults.update({"llm_ignore_tool_choice": True})
        model = make_llm(emu)
        _, calls, _ = await collect(model.chat(chat_ctx=user_ctx("x"), tools=[get_weather],
                                               tool_choice="none", conn_options=ONCE))
        assert [c.name for c in calls] == ["get_weather"]
        await model.aclose()


async def test_stream_cut_mid_answer_and_empty_stream() -> None:
    script = Script([reply("We are open from eight in the morning until six.", repeat=True)])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu)
        emu.faults.update({"llm_cut_after": 4})
        got = ""
        with pytest.raises(APIConnectionError):
            async with model.chat(chat_ctx=user_ctx("hours"), conn_options=ONCE) as stream:
                async for chunk in stream:
                    got += chunk.delta.content or "" if chunk.delta else ""
        assert got == "We are open from "  # four pieces, then the connection is gone
        emu.faults.update({"llm_empty_stream": True})
        text, calls, _ = await collect(model.chat(chat_ctx=user_ctx("hours"),
                                                  conn_options=ONCE))
        assert (text, calls) == ("", [])
        assert emu.faults.fired[-2:] == ["llm_cut_after", "llm_empty_stream"]
        await model.aclose()


async def test_backup_endpoint_has_its_own_key_model_script_and_strict_fields() -> None:
    async with ProviderEmulators(script=Script([reply("primary")])) as emu:
        emu.backup.script.add(reply("backup answer"))
        env = emu.backup_env()
        backup = openai.LLM(model=env["LLM_BACKUP_MODEL"], base_url=env["LLM_BACKUP_BASE_URL"],
                            api_key=env["LLM_BACKUP_API_KEY"])
        text, _, _ = await collect(backup.chat(chat_ctx=user_ctx("hi"), conn_options=ONCE))
        assert text == "backup answer" and env["LLM_BACKUP_MODEL"] == BACKUP_LLM_MODEL
        assert emu.llm_requests == [] and len(emu.backup.llm_requests) == 1
        assert emu.backup.llm_responses[0]["thinking"] is False  # not a DeepSeek model
        # OpenAI-style strictness: DeepSeek's thinking switch is an unknown field there
        strict = openai.LLM(model=BACKUP_LLM_MODEL, base_url=env["LLM_BACKUP_BASE_URL"],
                            api_key=env["LLM_BACKUP_API_KEY"], extra_body=DISABLED)
        with pytest.raises(APIStatusError) as info:
            await collect(strict.chat(chat_ctx=user_ctx("hi"), conn_options=ONCE))
        assert info.value.status_code == 400
        # the primary key does not open the backup, and the backup's faults are its own
        wrong = openai.LLM(model=BACKUP_LLM_MODEL, base_url=env["LLM_BACKUP_BASE_URL"],
                           api_key=emu.env()["DEEPSEEK_API_KEY"])
        with pytest.raises(APIStatusError) as info:
            await collect(wrong.chat(chat_ctx=user_ctx("hi"), conn_options=ONCE))
        assert info.value.status_code == 401
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{emu.base_url}/__emulator/backup/faults",
                                 json={"llm_error_status": 503}) as r:
                assert r.status == 200
        assert emu.backup.faults.llm_error_status == 503 and emu.faults.llm_error_status is None
        for m in (backup, strict, wrong):
            await m.aclose()
