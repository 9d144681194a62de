"""What an OpenAI-compatible chat endpoint does with the request fields that constrain the
answer, applied to the scripted turn: `tools`, `tool_choice`, `parallel_tool_calls`,
`max_tokens` / `max_completion_tokens` and `stop` (provider-protocols.md §5.13: tool_choice
`none` / `auto` / `required` / named).

The script says what the "model" would like to do; these rules say what the API lets through:
- no `tools`, or `tool_choice: "none"`: no tool call; a turn that only calls tools gives way to
  the next scripted turn that speaks (or the emulator's polite echo);
- `"required"` or a named function: a call is made; without a scripted one, the forced call
  has empty arguments (`{}`), as a model obliged to call would;
- calls to functions the request did not declare are dropped; `parallel_tool_calls: false`
  keeps the first call;
- `max_tokens` cuts the content (finish_reason `length`), `stop` cuts it before the sequence.
`Faults.llm_ignore_tool_choice` plays an endpoint that ignores all of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .llm_script import Script, ToolCall, Turn, token_pieces


class InvalidRequest(ValueError):
    """A request the real API rejects with HTTP 400 (the message is the API's wording)."""


@dataclass
class ToolRules:
    declared: list[str] = field(default_factory=list)
    choice: str = "auto"  # none | auto | required | function
    forced: str | None = None  # the named function of a `{"type": "function", ...}` choice
    parallel: bool = True
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ToolRules:
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise InvalidRequest("tools must be a list")
        declared = [str((t.get("function") or {}).get("name", "")) for t in tools
                    if isinstance(t, dict) and t.get("type") == "function"]
        raw = body.get("tool_choice", "auto" if declared else "none")
        forced: str | None = None
        if isinstance(raw, dict):
            forced = str((raw.get("function") or {}).get("name", ""))
            if raw.get("type") != "function" or forced not in declared:
                raise InvalidRequest(f"tool_choice names a function that is not in tools: "
                                     f"{forced!r}")
            choice = "function"
        elif raw in ("none", "auto", "required"):
            choice = str(raw)
        else:
            raise InvalidRequest(f"Invalid value for tool_choice: {raw!r}")
        if choice in ("required", "function") and not declared:
            raise InvalidRequest("tool_choice is only allowed when tools are specified")
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise InvalidRequest("max_tokens must be a positive integer")
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else [str(s) for s in stop]
        return cls(declared, choice, forced, body.get("parallel_tool_calls") is not False,
                   limit, stop)

    def pick(self, script: Script, last_text: str) -> Turn | None:
        """The scripted turn this request gets, given what the API allows."""
        if self.choice == "none" or not self.declared:
            return script.next_for(last_text, kind="text")
        if self.choice in ("required", "function"):
            return script.next_for(last_text, kind="tools") or script.next_for(last_text)
        return script.next_for(last_text)

    def calls(self, turn: Turn) -> list[ToolCall]:
        if self.choice == "none" or not self.declared:
            return []
        calls = [c for c in turn.tool_calls if c.name in self.declared]
        if self.forced is not None:
            calls = [c for c in calls if c.name == self.forced] or [ToolCall(self.forced, {})]
        elif self.choice == "required" and not calls:
            calls = [ToolCall(self.declared[0], {})]
        return calls if self.parallel else calls[:1]

    def content(self, text: str | None) -> tuple[str | None, str | None]:
        """(the content sent, a finish_reason override) after `stop` and `max_tokens`."""
        if not text:
            return text, None
        for s in self.stop:
            if s and s in text:
                text = text[: text.index(s)]
        pieces = token_pieces(text)
        if self.max_tokens is not None and len(pieces) > self.max_tokens:
            return "".join(pieces[: self.max_tokens]), "length"
        return text, None
