"""The one path every state-changing tool takes: read back, hear the caller's yes, act once.

    return await confirmed_action(ctx, tool="cancel_appointment", args={"booking_id": 7},
                                  prepare=prepare)

* Replay - the executed action is keyed by (call, tool, arguments, the confirming message) in
  the `idempotency_keys` table; a repeated call returns the first result instead of acting
  twice. This is checked before `prepare`, so a repeat is answered even when the data it
  validated has changed since (the slot is now taken: by this very booking).
* Read-back - `prepare()` validates against current data and returns the read-back and the
  action. A call that is not the confirmation of a pending action stores ONE pending action
  bound to this function call, and returns the read-back for the agent to say word for word.
  At most one waits at a time: a different change asked for before the caller answered is
  refused (one question at a time), and once they answered, the old one is gone.
* Hearing - the read-back counts only once an assistant message after that function call's
  output says it (`carries`) and was played to the end: the framework marks speech the
  caller cut off as `interrupted`, and a caller turn that began before the read-back stopped
  playing did not answer it.
* Deciding - the FIRST caller turn after the read-back decides, once: a clear assent
  (`is_clear_assent`: assent words and nothing else, no question) to the same action, acted on
  in that very turn, executes it; anything else discards it ("no", "let me think", silence
  followed by a later "yes, sure" to another question, a different action). The model cannot
  fake any of this: there is no `confirmed` argument, and only user-role messages (the
  caller's transcribed speech) and the framework's playout marks count.
* Truth - the action runs as `action(tx)` inside the same database transaction that records
  its idempotency key and result (`Repository.run_once`): either both commit or neither, so
  "nothing was changed" is never said about a change that committed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from livekit.agents import RunContext, ToolError
from livekit.agents.llm import ChatMessage, FunctionCallOutput

from agent.call_state import CallState, PendingAction
from agent.data.sql import Tx

from .audit import note_outcome
from .services import services_of

# A read-back nobody answered within this long is void, even if the next turn is a yes.
PENDING_TTL_S = 300.0
_MAX_ASSENT_WORDS = 12

# Assent, each phrase as words; and politeness that may go with it but is no assent alone.
_ASSENT = [p.split() for p in (
    "yes", "yeah", "yep", "yup", "ya", "yes please", "correct", "that's correct",
    "that is correct", "that's right", "that is right", "right", "confirm", "confirmed",
    "i confirm", "go ahead", "go for it", "please do", "do it", "do that", "sure",
    "absolutely", "definitely", "certainly", "of course", "ok", "okay", "alright",
    "all right", "sounds good", "sounds great", "that sounds good", "that works",
    "works for me", "perfect", "exactly", "affirmative", "that's fine", "fine",
    "book it", "cancel it", "send it", "move it", "open it", "yes i do", "i do",
)]
_POLITE = [p.split() for p in ("please", "thanks", "thank you", "great", "yes yes")]
_PHRASES = sorted([(p, True) for p in _ASSENT] + [(p, False) for p in _POLITE],
                  key=lambda entry: -len(entry[0]))


def is_clear_assent(text: str | None) -> bool:
    """True when `text` says yes and nothing else: every word belongs to an assent phrase
    ("yes", "go ahead", "that's right", "please book it"...) or to politeness ("please",
    "thanks"), at least one is assent, and it asks nothing. "Okay, let me think about it",
    "Sure, maybe later" and "yes, but cancel all" are not assent."""
    if not text or "?" in text:
        return False
    words = re.findall(r"[a-z']+", text.lower().replace("\u2019", "'"))
    if not words or len(words) > _MAX_ASSENT_WORDS:
        return False
    at, assent = 0, False
    while at < len(words):
        for phrase, is_assent in _PHRASES:
            if words[at:at + len(phrase)] == phrase:
                at += len(phrase)
                assent = assent or is_assent
                break
        else:
            return False  # a word that is no part of a yes: a hedge, a condition, a request
    return assent


def carries(spoken: str | None, readback: str) -> bool:
    """True when the spoken text contains the read-back, word for word (case, punctuation
    and spacing aside)."""
    def words(text: str) -> str:
        return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "

    return bool(spoken) and words(readback) in words(spoken or "")


class Prepared(NamedTuple):
    """What `prepare()` hands back: the sentence to read back, and the action it describes,
    run on the database thread inside the transaction that records its result."""

    readback: str
    action: Callable[[Tx], str]


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


# -- what the caller heard, and what they answered -----------------------------------------------


@dataclass(frozen=True)
class Answer:
    """Where the pending read-back stands in the conversation.

    `turn` is the first caller message after the read-back's function output (None while
    there is none); `heard` says whether the read-back was played to the end before it."""

    turn: ChatMessage | None
    heard: bool


def _user_messages(items: Sequence[Any]) -> list[ChatMessage]:
    return [i for i in items if isinstance(i, ChatMessage) and i.role == "user"]


def _metric(message: ChatMessage, name: str) -> float | None:
    value = (message.metrics or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def answer_to(items: Sequence[Any], pending: PendingAction) -> Answer:
    """Find the read-back of `pending` in the history and the caller turn that answers it."""
    start = next((i for i, item in enumerate(items)
                  if isinstance(item, FunctionCallOutput) and item.call_id == pending.call_id),
                 None)
    if start is None:
        return Answer(None, False)  # the read-back has not even reached the model yet
    heard: ChatMessage | None = None
    for item in items[start + 1:]:
        if not isinstance(item, ChatMessage):
            continue
        if item.role == "assistant" and heard is None:
            if not item.interrupted and carries(item.text_content, pending.readback):
                heard = item
        elif item.role == "user":
            if heard is None:
                return Answer(item, False)  # spoke before the read-back was (fully) said
            began, ended = _metric(item, "started_speaking_at"), \
                _metric(heard, "stopped_speaking_at")
            if began is not None and ended is not None and began < ended:
                return Answer(item, False)  # talked over its end: not an answer to all of it
            return Answer(item, True)
    return Answer(None, heard is not None)


# -- the gate --------------------------------------------------------------------------------------


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
        self.items = list(ctx.session.history.items)
        users = _user_messages(self.items)
        self.latest_user: ChatMessage | None = users[-1] if users else None
        self.key = idempotency_key(self.state, self.fp,
                                   self.latest_user.id if self.latest_user else None)

    async def replay(self) -> str | None:
        """The first result when this exact call (same confirming message) already ran."""
        existing = await self.repo.idempotency_result(self.key)
        if existing is None:
            return None
        return _repeated(existing.status, existing.result)

    async def run(self, readback: str, action: Callable[[Tx], str]) -> str:
        # Again: a concurrent repeat may have finished while the read-back was prepared.
        replayed = await self.replay()
        if replayed is not None:
            return replayed
        pending = self.state.pending_action
        if pending is not None and time.monotonic() - pending.created > PENDING_TTL_S:
            self.state.pending_action = pending = None
        same = pending is not None and pending.fingerprint == self.fp
        if pending is not None and same and pending.confirmed_by is not None \
                and self.latest_user is not None and pending.confirmed_by == self.latest_user.id:
            # A duplicate of the call the caller's yes is executing right now (the model
            # emitted it twice): the shared idempotency key makes it wait and replay.
            return await self._execute(action)
        if pending is not None:
            answer = answer_to(self.items, pending)
            if answer.turn is None:
                if same:  # asked again before the caller could answer
                    note_outcome("awaiting_confirmation")
                    return ("NOT DONE. The caller has not answered the read-back yet. Say it "
                            f"to them word for word: \"{pending.readback}\" and wait.")
                # Another change while one awaits its answer: one question at a time, or a
                # single "yes" would answer two read-backs.
                raise ToolError("NOT DONE: another change is waiting for the caller's answer "
                                f"(\"{pending.readback}\"). Ask about one thing at a time: get "
                                "their answer to that first.")
            else:
                # The first caller turn after the read-back decides, once, whatever it is.
                self.state.pending_action = None
                if same and answer.heard and answer.turn is self.latest_user \
                        and is_clear_assent(answer.turn.text_content):
                    pending.confirmed_by = answer.turn.id
                    self.state.pending_action = pending  # until it ran, for duplicates
                    try:
                        return await self._execute(action)
                    finally:
                        if self.state.pending_action is pending:
                            self.state.pending_action = None
                if same and answer.heard and answer.turn is self.latest_user:
                    note_outcome("not_confirmed")
                    raise ToolError("Nothing was changed: the caller did not clearly say yes "
                                    "to the read-back. If they still want it, call this again "
                                    "to read it back to them.")
                # not heard, answered long ago, or another action: read this one back afresh
        self.state.pending_action = PendingAction(
            tool=self.tool, fingerprint=self.fp, readback=readback,
            call_id=self.ctx.function_call.call_id)
        note_outcome("awaiting_confirmation")
        return ("NOT DONE YET. Say this to the caller word for word, then stop and wait for "
                f"their answer: \"{readback}\" Only if they clearly say yes, call {self.tool} "
                "again with exactly the same details.")

    async def _execute(self, action: Callable[[Tx], str]) -> str:
        """Act and record the result under the idempotency key, in one transaction."""
        outcome = await self.repo.run_once(self.key, tool=self.tool, call_id=self.state.call_uid,
                                           work=action)
        if not outcome.claimed:
            return _repeated(outcome.status, outcome.result)
        note_outcome("ok")
        return outcome.result or ""
