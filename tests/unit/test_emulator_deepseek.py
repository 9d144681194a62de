"""Conformance: the official livekit openai plugin against the DeepSeek emulator."""

from __future__ import annotations

import aiohttp
import pytest
from livekit.agents import APIConnectOptions, APIStatusError, llm
from livekit.agents.llm import ChatContext, FunctionCall, FunctionCallOutput, function_tool
from livekit.plugins import openai

from emulators import LatencyProfile, ProviderEmulators
from emulators.llm_script import Script, ToolCall, Turn, error, reply, tool_call

DISABLED = {"thinking": {"type": "disabled"}}
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)


def make_llm(emu: ProviderEmulators, *, thinking_off: bool = True, **kw) -> openai.LLM:
    env = emu.env()
    if thinking_off:
        kw["extra_body"] = DISABLED
    return openai.LLM(model=kw.pop("model", "deepseek-v4-flash"),
                      base_url=env["DEEPSEEK_BASE_URL"], api_key=env["DEEPSEEK_API_KEY"], **kw)


async def collect(stream) -> tuple[str, list[llm.FunctionToolCall], list]:
    text, calls, usage = "", [], []
    async with stream:
        async for chunk in stream:
            if chunk.delta:
                text += chunk.delta.content or ""
                calls.extend(chunk.delta.tool_calls)
            if chunk.usage:
                usage.append(chunk.usage)
    return text, calls, usage


@function_tool
async def get_weather(location: str) -> str:
    """Get the current weather for a location."""
    return "sunny"


def user_ctx(text: str) -> ChatContext:
    ctx = ChatContext()
    ctx.add_message(role="system", content="You answer weather questions.")
    ctx.add_message(role="user", content=text)
    return ctx


async def test_text_stream_and_request_body() -> None:
    script = Script([reply("We are open from nine to five.", when="hours")])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu)
        text, calls, usage = await collect(
            model.chat(chat_ctx=user_ctx("what are your opening hours"), conn_options=FAST))
        assert text == "We are open from nine to five."
        assert calls == []
        assert usage and usage[0].total_tokens > 0
        body = emu.llm_requests[0]
        assert body["thinking"] == {"type": "disabled"}
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert "tools" not in body and "tool_choice" not in body
        assert emu.llm_headers[0]["Authorization"] == f"Bearer {emu.env()['DEEPSEEK_API_KEY']}"
        # no script left → polite echo
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("banana"), conn_options=FAST))
        assert text == "You said: banana."
        await model.aclose()


async def test_paced_stream_with_reference_profile() -> None:
    script = Script([reply("one two three four")])
    async with ProviderEmulators(script=script, profile=LatencyProfile.reference()) as emu:
        model = make_llm(emu)
        import time
        t0 = time.monotonic()
        first = None
        async with model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content and first is None:
                    first = time.monotonic() - t0
        assert first is not None and 0.3 <= first < 1.5
        await model.aclose()


async def test_tool_call_reassembly_two_parallel_calls_and_history() -> None:
    script = Script([
        Turn(when="weather", tool_calls=[ToolCall("get_weather", {"location": "Kyiv"}),
                                         ToolCall("get_weather", {"location": "Paris, France"})]),
        reply("It is {tool_output} in Kyiv today."),
    ])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu)
        ctx = user_ctx("What's the weather in Kyiv and Paris?")
        text, calls, _ = await collect(
            model.chat(chat_ctx=ctx, tools=[get_weather], conn_options=FAST))
        assert text == ""
        assert [(c.name, c.arguments) for c in calls] == [
            ("get_weather", '{"location": "Kyiv"}'),
            ("get_weather", '{"location": "Paris, France"}')]
        assert calls[0].call_id != calls[1].call_id
        body = emu.llm_requests[0]
        assert body["tools"][0]["function"]["name"] == "get_weather"
        # round trip: history with the tool calls and their outputs
        for c in calls:
            ctx.items.append(FunctionCall(call_id=c.call_id, name=c.name, arguments=c.arguments))
            ctx.items.append(FunctionCallOutput(call_id=c.call_id, name=c.name,
                                                output="sunny", is_error=False))
        text, calls2, _ = await collect(
            model.chat(chat_ctx=ctx, tools=[get_weather], conn_options=FAST))
        assert text == "It is sunny in Kyiv today."
        assert calls2 == []
        history = emu.llm_requests[1]["messages"]
        assistant = [m for m in history if m["role"] == "assistant"]
        assert sum(len(m["tool_calls"]) for m in assistant) == 2
        assert all("reasoning_content" not in m for m in assistant)
        assert [m["role"] for m in history].count("tool") == 2
        await model.aclose()


async def test_thinking_default_breaks_tool_round_trip_with_400() -> None:
    script = Script([tool_call("get_weather", {"location": "Kyiv"}), reply("never sent")])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu, thinking_off=False)
        ctx = user_ctx("weather in Kyiv?")
        text, calls, usage = await collect(
            model.chat(chat_ctx=ctx, tools=[get_weather], conn_options=FAST))
        assert len(calls) == 1 and text == ""  # reasoning_content is never surfaced
        assert "thinking" not in emu.llm_requests[0]
        assert usage[0].completion_tokens > 0
        c = calls[0]
        ctx.items.append(FunctionCall(call_id=c.call_id, name=c.name, arguments=c.arguments))
        ctx.items.append(FunctionCallOutput(call_id=c.call_id, name=c.name, output="sunny",
                                            is_error=False))
        with pytest.raises(APIStatusError) as info:
            await collect(model.chat(chat_ctx=ctx, tools=[get_weather], conn_options=FAST))
        assert info.value.status_code == 400
        assert "reasoning_content" in str(info.value)
        assert len(emu.llm_requests) == 2  # not retried
        # the per-call escape hatch works
        text, _, _ = await collect(model.chat(
            chat_ctx=ctx, tools=[get_weather], conn_options=FAST,
            extra_kwargs={"extra_body": DISABLED}))
        assert text == "never sent"
        await model.aclose()


async def test_429_then_success_is_retried_and_401_is_not() -> None:
    script = Script([error(429), error(500), reply("third time lucky")])
    async with ProviderEmulators(script=script) as emu:
        model = make_llm(emu)
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert text == "third time lucky"
        assert len(emu.llm_requests) == 3
        bad = openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                         api_key="sk-wrong", extra_body=DISABLED)
        with pytest.raises(APIStatusError) as info:
            await collect(bad.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert info.value.status_code == 401
        assert len(emu.llm_requests) == 4
        await model.aclose()
        await bad.aclose()


async def test_faults_fire_once_and_disarm() -> None:
    async with ProviderEmulators(script=Script([reply("ok", repeat=True)])) as emu:
        model = make_llm(emu)
        emu.faults.llm_error_status = 503
        emu.faults.llm_error_count = 2
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert text == "ok" and len(emu.llm_requests) == 3
        assert emu.faults.llm_error_status is None
        # malformed chunk: stream fails (retried since nothing was emitted), then recovers
        emu.faults.llm_malformed = True
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert text == "ok" and emu.faults.fired.count("llm_malformed") == 1
        # stall beyond the client timeout → timeout, retried, recovers
        emu.faults.llm_stall_s = 1.5
        n = len(emu.llm_requests)
        text, _, _ = await collect(model.chat(
            chat_ctx=user_ctx("hi"),
            conn_options=APIConnectOptions(max_retry=2, retry_interval=0.05, timeout=0.5)))
        assert text == "ok" and len(emu.llm_requests) == n + 2
        # keep-alive comments while queued are ignored by the client
        emu.faults.llm_keepalive_s = 1.2
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert text == "ok" and "llm_keepalive_s" in emu.faults.fired
        await model.aclose()


async def test_clear_captures_forgets_earlier_traffic_but_keeps_the_setup() -> None:
    """A test on a shared emulator must not count the requests and fired faults of the tests
    before it; the script, phrases and armed knobs it set up itself stay."""
    async with ProviderEmulators(script=Script([reply("ok", repeat=True)]),
                                 stt_phrases=["hello there"]) as emu:
        model = make_llm(emu)
        emu.faults.update({"llm_error_status": 503})
        await collect(model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert emu.llm_requests and emu.faults.fired and emu.state.llm_responses
        emu.clear_captures()
        assert not emu.llm_requests and not emu.faults.fired
        assert not emu.state.llm_responses and not emu.state.llm_timings
        assert emu.stt_phrases == ["hello there"]
        text, _, _ = await collect(model.chat(chat_ctx=user_ctx("hi"), conn_options=FAST))
        assert text == "ok" and len(emu.llm_requests) == 1
        await model.aclose()


async def test_models_route_model_validation_and_non_stream() -> None:
    async with ProviderEmulators(script=Script([reply("plain answer")])) as emu:
        headers = {"Authorization": f"Bearer {emu.env()['DEEPSEEK_API_KEY']}"}
        async with aiohttp.ClientSession() as http:
            for prefix in ("", "/v1"):
                async with http.get(f"{emu.base_url}{prefix}/models", headers=headers) as r:
                    ids = [m["id"] for m in (await r.json())["data"]]
                    assert {"deepseek-flash", "deepseek-v4-flash", "deepseek-v4-pro"} <= set(ids)
            async with http.get(f"{emu.base_url}/models") as r:
                assert r.status == 401
                assert (await r.json())["error"]["type"] == "authentication_error"
            msg = [{"role": "user", "content": "hi"}]
            async with http.post(f"{emu.base_url}/chat/completions", headers=headers,
                                 json={"model": "deepseek-chat", "messages": msg}) as r:
                assert r.status == 400
            async with http.post(f"{emu.base_url}/chat/completions", headers=headers,
                                 json={"model": "deepseek-flash", "messages": msg,
                                       "thinking": {"type": "enabled"}}) as r:
                data = await r.json()
                assert data["object"] == "chat.completion"
                assert data["choices"][0]["message"]["content"] == "plain answer"
                assert data["choices"][0]["message"]["reasoning_content"]
            # the thinking check also applies to raw requests
            hist = [*msg, {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "x"}]
            async with http.post(f"{emu.base_url}/v1/chat/completions", headers=headers,
                                 json={"model": "deepseek-v4-pro", "messages": hist}) as r:
                assert r.status == 400
            async with http.post(f"{emu.base_url}/v1/chat/completions", headers=headers,
                                 json={"model": "deepseek-v4-pro", "messages": hist,
                                       "thinking": {"type": "disabled"}}) as r:
                assert r.status == 200
