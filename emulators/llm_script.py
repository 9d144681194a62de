"""Dialogue scripts for the DeepSeek emulator: what the "model" says or calls, turn by turn.

A test defines a `Script` of `Turn`s. For each chat request the emulator picks the first unused
turn whose `when` pattern matches the request's last message (the caller's words, or a tool's
output when the previous turn was a tool call); a turn without `when` matches anything. With no
turn left, the emulator echoes the caller politely, so a missing script line is visible in the
transcript instead of hanging.

Replies may use `{tool_output}` (the last tool result in the request) and `{user}` (the last
caller message), so "a spoken answer built from the tool's result" is real data flow.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] | str  # a str is sent verbatim (for malformed-argument tests)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass
class Turn:
    when: str | None = None  # regex, case-insensitive, searched in the last message's text
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    error_status: int | None = None  # answer the request with this HTTP error instead
    stall_s: float = 0.0  # hold the response this long before the first byte
    repeat: bool = False  # stays available after use (e.g. a fallback line)

    def matches(self, last_text: str) -> bool:
        return self.when is None or re.search(self.when, last_text, re.IGNORECASE) is not None


def reply(text: str, when: str | None = None, **kw: Any) -> Turn:
    return Turn(when=when, content=text, **kw)


def tool_call(name: str, arguments: dict[str, Any] | str, when: str | None = None,
              **kw: Any) -> Turn:
    return Turn(when=when, tool_calls=[ToolCall(name=name, arguments=arguments)], **kw)


def error(status: int, when: str | None = None, **kw: Any) -> Turn:
    return Turn(when=when, error_status=status, **kw)


class Script:
    """Thread-safe FIFO of turns with pattern matching (the emulator may run in another thread)."""

    def __init__(self, turns: list[Turn] | None = None) -> None:
        self._turns: list[Turn] = list(turns or [])
        self._used: list[Turn] = []
        self._lock = threading.Lock()

    def add(self, *turns: Turn) -> Script:
        with self._lock:
            self._turns.extend(turns)
        return self

    def next_for(self, last_text: str, *, kind: str | None = None) -> Turn | None:
        """The first unused turn matching `last_text`. `kind="text"` skips turns that call
        tools (a request with `tool_choice: "none"`), `kind="tools"` skips turns that don't
        (`"required"`); the skipped turns stay for later requests."""
        with self._lock:
            for i, turn in enumerate(self._turns):
                calls = bool(turn.tool_calls)
                if (kind == "text" and calls) or (kind == "tools" and not calls):
                    continue
                if turn.matches(last_text):
                    if not turn.repeat:
                        del self._turns[i]
                    self._used.append(turn)
                    return turn
        return None

    @property
    def remaining(self) -> list[Turn]:
        with self._lock:
            return list(self._turns)

    @property
    def used(self) -> list[Turn]:
        with self._lock:
            return list(self._used)

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Script:
        """Build from JSON (for `python -m emulators --script FILE`)."""
        turns = []
        for item in data:
            calls = [ToolCall(name=c["name"], arguments=c.get("arguments", {}))
                     for c in item.get("tool_calls", [])]
            turns.append(Turn(when=item.get("when"), content=item.get("content"),
                              tool_calls=calls, error_status=item.get("error_status"),
                              stall_s=float(item.get("stall_s", 0.0)),
                              repeat=bool(item.get("repeat", False))))
        return cls(turns)


def token_pieces(text: str) -> list[str]:
    """Split text into token-like pieces (a word plus its trailing space): the chunks the
    emulator streams, one per `llm_tokens_per_s` tick (bench.latency predicts with it)."""
    return re.findall(r"\S+\s*|\s+", text) or ([text] if text else [])


def render(text: str, *, user: str, tool_output: str) -> str:
    return text.replace("{user}", user).replace("{tool_output}", tool_output)
