"""Asking DeepSeek for the summary and outcome of a finished call.

One request through the official OpenAI plugin (same endpoint as the live calls), in JSON mode
(`response_format: json_object`; DeepSeek documents no `json_schema`), thinking as
SUMMARY_THINKING says. An answer that fails the schema is sent back once with the reason; a
second failure, or a request that fails outright, stores the outcome as "unavailable". Runs
after the caller has hung up; nothing here can touch the call record's other columns.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from livekit.agents import APIConnectOptions, llm

from .outcome import MODEL_SCHEMA, OutcomeInvalid, validate

logger = logging.getLogger("phone-agent.analysis")

SYSTEM_PROMPT = (
    "You review finished customer phone calls of a home-services company for the staff who "
    "follow them up. Read the call and answer with one JSON object only, no other text, "
    "matching this JSON schema:\n" + json.dumps(MODEL_SCHEMA) + "\n"
    "summary: two or three plain sentences on what the caller wanted and what happened. "
    "reason: the reason for calling, in a few words. resolved: true only if the caller got "
    "what they called for in this call. follow_up: whether staff must do something, and what. "
    "sentiment: the caller's mood at the end. transfer_reason: why the caller was handed to a "
    "person, or null. State only what the transcript and the tool results show."
)
RETRY_PROMPT = ("Your previous answer was not valid ({error}). Answer again with only the JSON "
                "object the schema describes.")

# Thinking can take a while before the first content token; the reasoning chunks keep the
# connection busy, so a read timeout only fires on a silent server.
CONN_OPTIONS = APIConnectOptions(max_retry=2, retry_interval=2.0, timeout=60.0)
ATTEMPT_TIMEOUT_S = 75.0
MAX_TOKENS = 4000  # reasoning and answer together


@dataclass(frozen=True)
class Analysis:
    status: str  # "ok" | "unavailable"
    answer: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0


async def _ask(model: llm.LLM, chat_ctx: llm.ChatContext) -> str:
    text: list[str] = []
    stream = model.chat(chat_ctx=chat_ctx, conn_options=CONN_OPTIONS,
                        extra_kwargs={"response_format": {"type": "json_object"},
                                      "max_tokens": MAX_TOKENS})
    async with stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text.append(chunk.delta.content)
    return "".join(text)


async def analyse(model: llm.LLM, call_digest: str, *, call_uid: str = "") -> Analysis:
    """Two attempts at a valid answer; never raises (a failure is an "unavailable")."""
    chat_ctx = llm.ChatContext()
    chat_ctx.add_message(role="system", content=SYSTEM_PROMPT)
    chat_ctx.add_message(role="user", content=call_digest)
    error = ""
    for attempt in (1, 2):
        try:
            text = await asyncio.wait_for(_ask(model, chat_ctx), ATTEMPT_TIMEOUT_S)
            return Analysis("ok", validate(text), attempts=attempt)
        except OutcomeInvalid as exc:
            error = str(exc)
            chat_ctx.add_message(role="assistant", content=text[:2000] or "(empty)")
            chat_ctx.add_message(role="user", content=RETRY_PROMPT.format(error=error))
        except Exception as exc:  # the request itself failed (after the plugin's retries)
            error = f"{type(exc).__name__}: {exc}"[:300]
        logger.warning("call summary attempt failed", extra={"call": call_uid,
                                                            "attempt": attempt, "error": error})
    return Analysis("unavailable", error=error, attempts=2)
