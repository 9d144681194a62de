"""DeepSeek (OpenAI-compatible chat completions) emulator — provider-protocols.md §5.

Routes: POST /chat/completions, POST /v1/chat/completions, GET /models, GET /v1/models (under
a prefix for the backup endpoint, see server.py). Dialogue comes from the state's `Script`
(emulators/llm_script.py), constrained by the request fields as the real API constrains a
model (emulators/request_rules.py: tools, tool_choice, parallel_tool_calls, max_tokens, stop).
Thinking is on by default for DeepSeek's V4 model ids only; a state with
`reject_unknown_fields` answers a DeepSeek-only field (`thinking`) with HTTP 400, as
OpenAI's API does.

JSON output (§5.11): `response_format` may be `text` or `json_object` (DeepSeek documents no
other type: anything else is a 400); `json_object` needs the word "json" somewhere in the
prompt, else a 400, as DeepSeek's docs require. In JSON mode an unscripted answer is a JSON
object echoing the caller; a scripted one is sent verbatim, so tests can also script the
malformed output a real model sometimes returns.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from .llm_script import Turn, render, token_pieces
from .request_rules import InvalidRequest, ToolRules
from .state import EmulatorState

__all__ = ["DeepSeekEmulator", "error_response", "token_pieces"]

THINKING_400 = "The reasoning_content in the thinking mode must be passed back to the API."
JSON_WORD_400 = ("Prompt must contain the word 'json' in some form to use 'response_format' "
                 "of type 'json_object'.")
RESPONSE_FORMAT_400 = "This response_format type is unavailable now"

_ERROR_TEXT = {
    400: ("Invalid Format", "invalid_request_error"),
    401: ("Authentication Fails, Your api key is invalid", "authentication_error"),
    402: ("Insufficient Balance", "invalid_request_error"),
    404: ("Not Found", "invalid_request_error"),
    422: ("Invalid Parameters", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error"),
    500: ("Server Error", "server_error"),
    503: ("Server Overloaded", "server_error"),
}


def error_response(status: int, message: str | None = None) -> web.Response:
    default_msg, kind = _ERROR_TEXT.get(status, ("Error", "invalid_request_error"))
    body = {"error": {"message": message or default_msg, "type": kind, "param": None,
                      "code": kind}}
    return web.json_response(body, status=status)


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content
                        if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def _split_args(args: str, n: int = 3) -> list[str]:
    if len(args) < n:
        return [args]
    step = max(1, len(args) // n)
    parts = [args[i:i + step] for i in range(0, len(args), step)]
    return parts


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _json_mode(response_format: Any, messages: list[Any]) -> tuple[bool, str | None]:
    """(JSON mode on?, the 400 message if the request can't be served)."""
    if response_format is None:
        return False, None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("text", "json_object"):
        return False, RESPONSE_FORMAT_400
    if kind == "text":
        return False, None
    prompt = " ".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
    if "json" not in prompt.lower():
        return True, JSON_WORD_400
    return True, None


class DeepSeekEmulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def register(self, app: web.Application, prefix: str = "") -> None:
        for version in ("", "/v1"):
            app.router.add_post(f"{prefix}{version}/chat/completions", self.chat_completions)
            app.router.add_get(f"{prefix}{version}/models", self.models)

    # ---------------------------------------------------------------- helpers
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.state.deepseek_key}"

    async def models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error_response(401)
        data = [{"id": m, "object": "model", "owned_by": self.state.model_owner}
                for m in self.state.deepseek_models]
        return web.json_response({"object": "list", "data": data})

    # ---------------------------------------------------------------- main route
    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        # wall clock (time.time()) of this request's arrival, first content and end of stream
        timing: dict[str, float | None] = {"received_wall": time.time(),
                                           "first_token_wall": None, "done_wall": None}
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "Failed to parse the request body as JSON")
        if not isinstance(body, dict):
            return error_response(400)
        state.llm_requests.append(body)
        state.llm_headers.append(dict(request.headers))
        state.llm_timings.append(timing)
        if not self._authorized(request):
            return error_response(401)

        status = state.faults.take("llm_error_status")
        if status:
            return error_response(int(status))

        model = body.get("model")
        if model not in state.deepseek_models:
            return error_response(400, "Model Not Exist")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error_response(400, "messages must be a non-empty list")

        json_mode, problem = _json_mode(body.get("response_format"), messages)
        if problem:
            return error_response(400, problem)
        if state.reject_unknown_fields and "thinking" in body:
            return error_response(400, "Unrecognized request argument supplied: thinking")
        try:
            rules = ToolRules.from_body(body)
        except InvalidRequest as e:
            return error_response(400, str(e))
        thinking = (model in state.thinking_models
                    and (body.get("thinking") or {}).get("type") != "disabled")
        if thinking:
            for m in messages:
                if (isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
                        and not m.get("reasoning_content")):
                    return error_response(400, THINKING_400)

        last = messages[-1] if isinstance(messages[-1], dict) else {}
        user_text = next((_text_of(m.get("content")) for m in reversed(messages)
                          if isinstance(m, dict) and m.get("role") == "user"), "")
        tool_output = next((_text_of(m.get("content")) for m in reversed(messages)
                            if isinstance(m, dict) and m.get("role") == "tool"), "")
        last_text = _text_of(last.get("content"))

        lawless = state.faults.take("llm_ignore_tool_choice")
        turn = state.script.next_for(last_text) if lawless else rules.pick(state.script,
                                                                           last_text)
        if turn is None:
            echo = f"You said: {user_text}." if user_text else "Sorry?"
            turn = Turn(content=json.dumps({"reply": echo}) if json_mode else echo)
        if turn.stall_s:
            await asyncio.sleep(turn.stall_s)
        if turn.error_status:
            return error_response(int(turn.error_status))

        content = render(turn.content, user=user_text, tool_output=tool_output) \
            if turn.content is not None else None
        finish: str | None = None
        if not lawless:
            content, finish = rules.content(content)
        calls = [{"id": c.id or f"call_{i:02d}_{uuid.uuid4().hex[:20]}",
                  "name": c.name, "arguments": c.arguments_json()}
                 for i, c in enumerate(turn.tool_calls if lawless else rules.calls(turn))]
        finish = finish or ("tool_calls" if calls else "stop")
        reasoning = None
        if thinking:
            reasoning = (f"The user said: {user_text[:80]}. "
                         + ("I must answer with one JSON object." if json_mode
                            else "I should answer briefly."))
        prompt_tokens = sum(_estimate_tokens(_text_of(m.get("content")))
                            for m in messages if isinstance(m, dict)) + 5
        completion_tokens = (_estimate_tokens(content or "")
                             + sum(_estimate_tokens(c["arguments"]) + 3 for c in calls))
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": prompt_tokens,
        }
        if reasoning:
            rt = _estimate_tokens(reasoning)
            usage["completion_tokens_details"] = {"reasoning_tokens": rt}
            usage["completion_tokens"] += rt
            usage["total_tokens"] += rt
        state.llm_responses.append({"content": content, "tool_calls": calls,
                                    "thinking": thinking, "finish_reason": finish})

        stall = state.faults.take("llm_stall_s")
        if stall:
            await asyncio.sleep(float(stall))

        if not body.get("stream"):
            return self._non_stream(model, content, calls, reasoning, usage, finish)
        return await self._stream(request, body, model, content, calls, reasoning, usage,
                                  timing, finish)

    def _non_stream(self, model: str, content: str | None, calls: list[dict[str, str]],
                    reasoning: str | None, usage: dict[str, Any], finish: str
                    ) -> web.Response:
        message: dict[str, Any] = {"role": "assistant", "content": content or ""}
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["name"],
                                                   "arguments": c["arguments"]}}
                                     for c in calls]
        return web.json_response({
            "id": str(uuid.uuid4()), "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_emulator",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": usage,
        })

    async def _stream(self, request: web.Request, body: dict[str, Any], model: str,
                      content: str | None, calls: list[dict[str, str]], reasoning: str | None,
                      usage: dict[str, Any], timing: dict[str, float | None], finish: str
                      ) -> web.StreamResponse:
        profile = self.state.profile
        faults = self.state.faults
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "x-ds-trace-id": uuid.uuid4().hex})
        await resp.prepare(request)
        chunk_id = str(uuid.uuid4())
        created = int(time.time())

        async def send_raw(data: str) -> None:
            await resp.write(data.encode())

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            obj = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                   "model": model, "system_fingerprint": "fp_emulator", "choices": choices,
                   **extra}
            await send_raw(f"data: {json.dumps(obj)}\n\n")

        def delta(d: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]

        per_token = 1.0 / profile.llm_tokens_per_s if profile.llm_tokens_per_s > 0 else 0.0

        async def pace() -> None:
            if per_token:
                await asyncio.sleep(per_token)

        try:
            keepalive = faults.take("llm_keepalive_s")
            wait = float(keepalive or 0.0) + profile.llm_first_token_ms / 1000.0
            deadline = time.monotonic() + wait
            if keepalive:
                await send_raw(": keep-alive\n\n")
            while (left := deadline - time.monotonic()) > 0:
                await asyncio.sleep(min(left, 1.0))
                if deadline - time.monotonic() > 0:
                    await send_raw(": keep-alive\n\n")

            await send(delta({"role": "assistant", "content": ""}))
            if faults.take("llm_malformed"):
                await send_raw('data: {"id": "garbage", "choices": [{"delta": \n\n')
                await resp.write_eof()
                return resp
            if faults.take("llm_stream_error"):
                await send_raw('data: {"error": {"message": "Server Error", '
                               '"type": "server_error", "code": "server_error"}}\n\n')
                await resp.write_eof()
                return resp
            if faults.take("llm_empty_stream"):
                await resp.write_eof()  # a clean end: no text, no finish chunk, no [DONE]
                return resp
            cut_after = int(faults.take("llm_cut_after") or 0)

            if reasoning:
                for piece in token_pieces(reasoning):
                    await send(delta({"content": None, "reasoning_content": piece}))
                    await pace()
            if content:
                for sent, piece in enumerate(token_pieces(content)):
                    if cut_after and sent == cut_after:
                        self._cut(request)
                        return resp
                    if timing["first_token_wall"] is None:
                        timing["first_token_wall"] = time.time()
                    await send(delta({"content": piece}))
                    await pace()
            for index, call in enumerate(calls):
                await send(delta({"tool_calls": [{
                    "index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["name"], "arguments": ""}}]}))
                await pace()
                for part in _split_args(call["arguments"]):
                    await send(delta({"tool_calls": [{
                        "index": index, "function": {"arguments": part}}]}))
                    await pace()
            await send(delta({"content": ""}, finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                await send([], usage=usage)
            await send_raw("data: [DONE]\n\n")
            await resp.write_eof()
            timing["done_wall"] = time.time()
        except ConnectionResetError:
            pass  # the client went away (e.g. the agent was interrupted)
        return resp

    @staticmethod
    def _cut(request: web.Request) -> None:
        """Drop the TCP connection mid-body: the chunked response is never terminated, so
        the client sees an incomplete read (what a network failure looks like)."""
        if request.transport is not None:
            request.transport.abort()
