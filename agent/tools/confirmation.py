"""The one path every state-changing tool takes: read back, wait for the caller's yes, act once.

    return await confirmed_action(ctx, tool="cancel_appointment", args={"booking_id": 7},
                                  prepare=prepare)

* Replay - the executed action is keyed by (call, tool, arguments, the confirming message) in
  the `idempotency_keys` table; a repeated call returns the first result instead of acting
  twice. This is checked before `prepare`, so a repeat is answered even when the data it
  validated has changed since (the slot is now taken: by this very booking).
* Confirmation - `prepare()` validates against current data and returns the read-back and
  the action. The first call (or changed arguments) stores a pending action and returns the
  read-back for the agent to say. The action runs only when the tool is called again with
  the same arguments AND the caller's most recent message in `ctx.session.history` is an
  explicit yes that arrived after that read-back. The model cannot fake this: there is no
  `confirmed` argument, and only user-role messages (the caller's transcribed speech) count.
* The database adds its own guarantees (one active booking per slot, one outbox row per
  SMS key).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from livekit.agents import RunContext, ToolError
from livekit.agents.llm import ChatMessage, FunctionCallOutput

from agent.call_state import CallState, PendingAction

from .audit import note_outcome
from .services import services_of

PENDING_TTL_S = 300.0

_NEGATIVE = re.compile(
    r"\b(no|nope|nah|not|don'?t|do not|didn'?t|wait|hold on|stop|never|wrong|incorrect|"
    r"actually|isn'?t|wasn'?t|cancel that|changed? my mind|hang on)\b", re.IGNORECASE)
_AFFIRMATIVE = re.compile(
    r"\b(yes|yeah|yep|yup|ya|correct|confirm(ed)?|that'?s right|that is right|right|"
    r"go ahead|please do|do it|sure|absolutely|definitely|ok(ay)?|affirmative|"
    r"sounds good|perfect|exactly|of course)\b", re.IGNORECASE)


def is_explicit_yes(text: str | None) -> bool:
    """An explicit, unhedged confirmation: a yes-word, no negation, and short."""
    if not text:
        return False
    text = text.strip()
    if _NEGATIVE.search(text) or "?" in text:
        return False
    return bool(_AFFIRMATIVE.search(text)) and len(text.split()) <= 15


class Prepared(NamedTuple):
    """What `prepare()` hands back: the sentence to read back and the action it describes."""

    readback: str
    action: Callable[[], Awaitable[str]]


async def confirmed_action(ctx: RunContext[CallState], *, tool: str, args: dict[str, Any],
                           prepare: Callable[[], Awaitable[Prepared]]) -> str:
    """Run a state-changing tool call through replay, read-back and confirmation.

    `args` are the parsed arguments that identify the action (they make its fingerprint);
    `prepare` is only awaited when the call is not a repeat of an executed one.
    """
    gate = ConfirmationGate(ctx, tool=tool, args=args)
    if (done := await gate.replay()) is not None:
        return done
    readback, action = await prepare()
    return await gate.run(readback, action)


@dataclass(frozen=True)
class _UserTurn:
    id: str | None
    text: str | None
    index: int


def _latest_user_turn(ctx: RunContext[CallState]) -> _UserTurn:
    items = list(ctx.session.history.items)
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, ChatMessage) and item.role == "user":
            return _UserTurn(item.id, item.text_content, index)
    return _UserTurn(None, None, -1)


def _readback_index(ctx: RunContext[CallState], call_id: str) -> int | None:
    for index, item in enumerate(ctx.session.history.items):
        if isinstance(item, FunctionCallOutput) and item.call_id == call_id:
            return index
    return None


def fingerprint(tool: str, args: dict[str, Any]) -> str:
    return tool + ":" + json.dumps(args, sort_keys=True, default=str)


def idempotency_key(state: CallState, fp: str, user_msg_id: str | None) -> str:
    raw = f"{state.call_uid}|{fp}|{user_msg_id or '-'}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _repeated(status: str, result: str | None) -> str:
    """The answer to a repeat of an executed (or still running) call: nothing is done again."""
    note_outcome("duplicate")
    if status != "done":
        return "That request is already being processed; nothing was repeated."
    return f"Already done; nothing was repeated. {result or ''}".strip()


class ConfirmationGate:
    """The confirmation + idempotency state of one state-changing tool call.

    Use it through `confirmed_action`, which checks `replay()` before validating.
    """

    def __init__(self, ctx: RunContext[CallState], *, tool: str, args: dict[str, Any]) -> None:
        self.ctx = ctx
        self.tool = tool
        self.state: CallState = ctx.userdata
        self.repo = services_of(ctx).repo
        self.fp = fingerprint(tool, args)
        self.user = _latest_user_turn(ctx)
        self.key = idempotency_key(self.state, self.fp, self.user.id)

    async def replay(self) -> str | None:
        """The first result when this exact call (same confirming message) already ran."""
        existing = await self.repo.idempotency_result(self.key)
        if existing is None:
            return None
        return _repeated(existing.status, existing.result)

    async def run(self, readback: str, action: Callable[[], Awaitable[str]]) -> str:
        state, tool, user = self.state, self.tool, self.user
        # Again: a concurrent repeat may have finished while the read-back was prepared.
        replayed = await self.replay()
        if replayed is not None:
            return replayed

        pending: PendingAction | None = state.pending_actions.get(tool)
        if pending is not None and time.monotonic() - pending.created > PENDING_TTL_S:
            pending = None
        if pending is None or pending.fingerprint != self.fp:
            state.pending_actions[tool] = PendingAction(
                tool=tool, fingerprint=self.fp, readback=readback,
                call_id=self.ctx.function_call.call_id, user_msg_id=user.id)
            note_outcome("awaiting_confirmation")
            return ("NOT DONE YET. Read this back to the caller and ask them to confirm: "
                    f"\"{readback}\" Only if they clearly say yes, call {tool} again with "
                    "exactly the same details.")
        if user.id is None or user.id == pending.user_msg_id:
            note_outcome("awaiting_confirmation")
            return ("NOT DONE. The caller has not answered the read-back yet. Ask them: "
                    f"\"{readback}\" and wait for a clear yes.")
        readback_at = _readback_index(self.ctx, pending.call_id)
        if readback_at is not None and readback_at > user.index:
            note_outcome("awaiting_confirmation")
            return f"NOT DONE. Ask the caller to confirm: \"{readback}\""
        if not is_explicit_yes(user.text):
            # Any answer that is not a clear yes resets the gate: they must hear it again.
            pending.user_msg_id = user.id
            pending.call_id = self.ctx.function_call.call_id
            note_outcome("not_confirmed")
            raise ToolError("Nothing was changed: the caller did not clearly confirm. If they "
                            f"still want it, ask again: \"{readback}\"")
        return await self._execute(action)

    async def _execute(self, action: Callable[[], Awaitable[str]]) -> str:
        """Claim the idempotency key, act, and store the result for repeats."""
        state, tool = self.state, self.tool
        claimed, stored, status = await self.repo.claim_idempotency_key(
            self.key, tool=tool, call_id=state.call_uid)
        if not claimed:
            return _repeated(status, stored)
        try:
            result = await action()
        except BaseException:
            await asyncio.shield(self.repo.release_idempotency_key(self.key))
            state.pending_actions.pop(tool, None)
            raise
        await self.repo.complete_idempotency_key(self.key, result)
        state.pending_actions.pop(tool, None)
        note_outcome("ok")
        return result
