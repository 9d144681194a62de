"""DeepSeek emulator, JSON output (§5.11) with thinking on: what the after-call summary sends.

The official plugin talks to the emulator exactly as agent/analysis/summarize.py does
(`extra_kwargs={"response_format": {"type": "json_object"}}`, thinking enabled by extra_body);
raw requests check what the plugin hides (the reasoning_content chunks, the non-stream form).
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from livekit.agents import APIConnectOptions, APIStatusError
from livekit.agents.llm import ChatContext
from livekit.plugins import openai

from emulators import ProviderEmulators
from emulators.deepseek import JSON_WORD_400
from emulators.llm_script import Script, reply

ONE_TRY = APIConnectOptions(max_retry=0, retry_interval=0.05, timeout=5.0)
JSON_MODE = {"response_format": {"type": "json_object"}}
ANSWER = {"summary": "Caller asked about hours.", "resolved": True}


def thinking_llm(emu: ProviderEmulators) -> openai.LLM:
    env = emu.env()
    return openai.LLM(model="deepseek-v4-flash", base_url=env["DEEPSEEK_BASE_URL"],
                      api_key=env["DEEPSEEK_API_KEY"],
                      extra_body={"thinking": {"type": "enabled"}})


def ctx(system: str, user: str) -> ChatContext:
    c = ChatContext()
    c.add_message(role="system", content=system)
    c.add_message(role="user", content=user)
    return c


async def text_of(model: openai.LLM, chat_ctx: ChatContext, **extra: object) -> str:
    out = ""
    async with model.chat(chat_ctx=chat_ctx, conn_options=ONE_TRY,
                          extra_kwargs={**JSON_MODE, **extra}) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                out += chunk.delta.content
    return out


async def test_json_mode_with_thinking_through_the_plugin() -> None:
    script = Script([reply(json.dumps(ANSWER), when="finished call")])
    async with ProviderEmulators(script=script) as emu:
        model = thinking_llm(emu)
        text = await text_of(model, ctx("Answer in JSON.", "The finished call: ..."),
                             max_tokens=4000)
        await model.aclose()
        assert json.loads(text) == ANSWER  # reasoning_content is not mixed into the content
        body = emu.llm_requests[0]
        assert body["response_format"] == {"type": "json_object"}
        assert body["thinking"] == {"type": "enabled"} and body["max_tokens"] == 4000
        assert emu.state.llm_responses[0]["thinking"] is True


async def test_unscripted_json_answer_is_a_json_object() -> None:
    async with ProviderEmulators() as emu:
        model = thinking_llm(emu)
        text = await text_of(model, ctx("Reply in json.", "banana"))
        await model.aclose()
        assert json.loads(text) == {"reply": "You said: banana."}


async def test_json_mode_without_the_word_json_is_a_400_not_retried() -> None:
    async with ProviderEmulators(script=Script([reply("{}")])) as emu:
        model = thinking_llm(emu)
        with pytest.raises(APIStatusError) as info:
            await text_of(model, ctx("Answer briefly.", "hello"))
        await model.aclose()
        assert info.value.status_code == 400
        assert "json" in str(info.value).lower()
        assert len(emu.llm_requests) == 1
        assert emu.script.remaining, "the scripted turn must not be consumed by a bad request"


async def test_raw_stream_sends_reasoning_before_json_and_non_stream_carries_it() -> None:
    script = Script([reply(json.dumps(ANSWER), when="summary", repeat=True)])
    async with ProviderEmulators(script=script) as emu:
        headers = {"Authorization": f"Bearer {emu.env()['DEEPSEEK_API_KEY']}"}
        body = {"model": "deepseek-v4-flash", "stream": True, **JSON_MODE,
                "messages": [{"role": "system", "content": "Reply with JSON."},
                             {"role": "user", "content": "call summary please"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{emu.base_url}/chat/completions", json=body,
                                 headers=headers) as r:
                assert r.status == 200
                lines = [ln for ln in (await r.text()).splitlines() if ln.startswith("data: {")]
            deltas = [json.loads(ln[6:])["choices"][0]["delta"] for ln in lines
                      if json.loads(ln[6:])["choices"]]
            kinds = ["reasoning" if d.get("reasoning_content") else "content"
                     for d in deltas if d.get("reasoning_content") or d.get("content")]
            assert kinds[0] == "reasoning" and "content" in kinds
            assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning")
            content = "".join(d.get("content") or "" for d in deltas)
            assert json.loads(content) == ANSWER
            async with http.post(f"{emu.base_url}/chat/completions",
                                 json={**body, "stream": False}, headers=headers) as r:
                message = (await r.json())["choices"][0]["message"]
            assert json.loads(message["content"]) == ANSWER
            assert "JSON" in message["reasoning_content"]
            # thinking off: no reasoning at all
            async with http.post(f"{emu.base_url}/chat/completions", headers=headers,
                                 json={**body, "stream": False,
                                       "thinking": {"type": "disabled"}}) as r:
                assert "reasoning_content" not in (await r.json())["choices"][0]["message"]


@pytest.mark.parametrize(("response_format", "status", "message"), [
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, 400,
     "unavailable"),
    ({"type": "text"}, 200, None),
    ({"type": "json_object"}, 400, JSON_WORD_400),
])
async def test_response_format_types(response_format: dict, status: int,
                                     message: str | None) -> None:
    async with ProviderEmulators(script=Script([reply("plain")])) as emu:
        headers = {"Authorization": f"Bearer {emu.env()['DEEPSEEK_API_KEY']}"}
        body = {"model": "deepseek-v4-flash", "response_format": response_format,
                "messages": [{"role": "user", "content": "hello"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{emu.base_url}/chat/completions", json=body,
                                 headers=headers) as r:
                assert r.status == status
                if message:
                    assert message in (await r.json())["error"]["message"]
