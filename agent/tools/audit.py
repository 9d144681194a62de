"""One audit row per business tool call, filler speech while a tool is slow, clean errors.

* Audit - every call (redacted arguments, outcome, redacted result, latency, masked caller) is
  written to `audit_log`, and counted with its latency (phone_agent_tool_calls_total,
  phone_agent_tool_latency_seconds). Guards label the outcome with `note_outcome`.
* Slow tools - `audited` wraps each call in `ctx.with_filler(...)`: if the session has been
  idle for `ToolServices.filler_delay` seconds while the tool still runs, the caller hears a
  short "one moment" instead of silence.
* Errors - a `ToolError` passes through as the sentence the agent says; any other exception
  becomes a generic apology, so no stack trace ever reaches the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from livekit.agents import AgentSession, FunctionToolsExecutedEvent, RunContext, ToolError

from agent.call_state import CallState
from agent.data.audit import tool_result
from agent.data.repository import AuditEntry
from agent.observability import metrics
from agent.observability.redaction import redact as shared_redact
from agent.phones import mask_phone

from .errors import NotAllowed
from .services import services_or_default

logger = logging.getLogger("phone-agent.tools")

ToolBody = Callable[..., Awaitable[str]]

GENERIC_FAILURE = ("Sorry, something went wrong on our side and nothing was changed. "
                   "Please try again in a moment, or I can transfer you to a colleague.")
UNREADABLE_ARGUMENTS = ("I couldn't read the details of that request. Please ask the caller "
                        "again and try once more.")
FILLERS = {
    "read": "One moment while I check that.",
    "write": "One moment while I take care of that.",
}

# -- redaction of what is written --------------------------------------------------------------

_SECRET_KEYS = {"pin", "date_of_birth", "dob", "password", "passcode"}
_PHONE_KEYS = {"phone_number", "phone", "caller", "recipient", "to"}


def redact(text: str) -> str:
    """Remove phone numbers, emails, card numbers, dates of birth and PINs from free text."""
    return shared_redact(text) if text else text


_RAW_PAIR = re.compile(r"""(?P<key>["']?(?P<name>[A-Za-z_]\w*)["']?\s*[:=]\s*)"""
                       r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^,}\s]+)""")
_LONG_DIGITS = re.compile(r"(?<![…\d])\d(?:[\s./-]?\d){3,}")


def redact_raw_arguments(raw: str) -> str:
    """Arguments that are not even JSON, kept for the audit without what they may carry:
    values of sensitive keys go whole (found leniently, the text being broken), the rest is
    `redact`ed, and any run of four or more digits left is masked (with the structure gone,
    a bare number may be a PIN or a date of birth)."""

    def pair(m: re.Match[str]) -> str:
        name = m.group("name").lower()
        if name in _SECRET_KEYS or name in _PHONE_KEYS:
            return m.group("key") + '"[redacted]"'
        return m.group(0)

    text = _RAW_PAIR.sub(pair, raw[:600])
    return _LONG_DIGITS.sub("[digits]", redact(text))[:300]


def redact_arguments(args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key.lower() in _SECRET_KEYS:
            out[key] = "[redacted]" if value not in (None, "") else value
        elif key.lower() in _PHONE_KEYS and isinstance(value, str) and value:
            out[key] = mask_phone(value)
        elif isinstance(value, str):
            out[key] = redact(value[:300]) + ("…" if len(value) > 300 else "")
        else:
            out[key] = value
    return out


# -- outcome of the running call ---------------------------------------------------------------


@dataclass
class _CallRecord:
    outcome: str | None = None


_current: contextvars.ContextVar[_CallRecord | None] = contextvars.ContextVar(
    "tool_call_record", default=None)


def note_outcome(outcome: str) -> None:
    """Let a guard label the audit record (e.g. `awaiting_confirmation`, `duplicate`)."""
    record = _current.get()
    if record is not None:
        record.outcome = outcome


# -- the decorator -----------------------------------------------------------------------------


def audited(kind: str = "read") -> Callable[[ToolBody], ToolBody]:
    """Wrap a tool body: filler speech if slow, clean errors, and one audit row per call.

    Apply *under* `@function_tool` so the framework still sees the original signature.
    """

    def decorate(fn: ToolBody) -> ToolBody:
        tool_name = fn.__name__
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        async def wrapper(*call_args: Any, **call_kwargs: Any) -> str:
            bound = signature.bind(*call_args, **call_kwargs)
            bound.apply_defaults()
            ctx = bound.arguments["ctx"]
            kwargs = {k: v for k, v in bound.arguments.items() if k != "ctx"}
            _remember_audited(ctx)
            record = _CallRecord()
            token = _current.set(record)
            started = time.perf_counter()
            result: str | None = None
            error: str | None = None
            outcome = "ok"
            try:
                async with _filler(ctx, kind):
                    result = await fn(*bound.args, **bound.kwargs)
                return result
            except NotAllowed as exc:
                outcome, error = "denied", exc.message
                raise
            except ToolError as exc:
                outcome, error = "error", exc.message
                raise
            except asyncio.CancelledError:
                outcome, error = "cancelled", "cancelled"
                raise
            except Exception as exc:
                logger.exception("business tool %s failed", tool_name)
                outcome, error = "failure", f"{type(exc).__name__}"
                raise ToolError(GENERIC_FAILURE) from None
            finally:
                _current.reset(token)
                latency_ms = int((time.perf_counter() - started) * 1000)
                if record.outcome and outcome in ("ok", "error", "denied"):
                    outcome = record.outcome  # a guard's label is more precise
                metrics.record_tool(tool_name, tool_result(outcome),
                                    time.perf_counter() - started)
                await _audit_in_time(_write_audit(ctx, tool_name, kwargs, outcome,
                                                  result if error is None else error,
                                                  latency_ms))

        return wrapper

    return decorate


# The caller's answer waits this long at most for its audit row: a locked or slow database
# must not hold the answer back (the row is still written, in the background).
AUDIT_WAIT_S = 0.5
_BACKGROUND: set[asyncio.Task[None]] = set()


async def _audit_in_time(write: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(write)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    await asyncio.wait({task}, timeout=AUDIT_WAIT_S)  # never cancels it


def _filler(ctx: Any, kind: str) -> AbstractAsyncContextManager[None]:
    """`ctx.with_filler(...)` inside a live session; a no-op for direct calls in unit tests."""
    services = services_or_default(ctx.userdata)
    delay = services.filler_delay if services is not None else 1.0
    if isinstance(ctx, RunContext) and delay is not None and delay >= 0:
        return ctx.with_filler(FILLERS.get(kind, FILLERS["read"]), delay=delay)
    return contextlib.nullcontext()


# -- calls that never reached a tool body ------------------------------------------------------

# Function-call ids `audited` has seen, so the session hook below skips them. Bounded: ids of
# finished calls are only needed until the framework reports the batch, moments later.
_AUDITED_CALL_IDS: OrderedDict[str, None] = OrderedDict()


def _remember_audited(ctx: Any) -> None:
    call = getattr(ctx, "function_call", None)
    call_id = getattr(call, "call_id", None)
    if call_id:
        _AUDITED_CALL_IDS[call_id] = None
        while len(_AUDITED_CALL_IDS) > 10_000:
            _AUDITED_CALL_IDS.popitem(last=False)


def audit_unparsed_calls(session: AgentSession[CallState], tool_names: Collection[str]) -> None:
    """Cover calls of `tool_names` that fail before reaching the tool body (unparseable JSON).

    For every failed call that `audited` never saw, the model-facing error is replaced by one
    speakable sentence and an audit row with outcome `invalid_arguments` is written.
    """
    names = frozenset(tool_names)
    pending: set[asyncio.Task[None]] = set()

    def on_executed(ev: FunctionToolsExecutedEvent) -> None:
        for call, out in ev.zipped():
            if call.name not in names or call.call_id in _AUDITED_CALL_IDS:
                continue
            if not out.is_error:
                continue
            out.output = UNREADABLE_ARGUMENTS
            metrics.record_tool(call.name, tool_result("invalid_arguments"), None)
            raw = {"raw_arguments": redact_raw_arguments(str(call.arguments))}
            task = asyncio.get_running_loop().create_task(
                _write_audit(session, call.name, raw, "invalid_arguments",
                             UNREADABLE_ARGUMENTS, 0))
            pending.add(task)
            task.add_done_callback(pending.discard)

    session.on("function_tools_executed", on_executed)


# -- writing the row ---------------------------------------------------------------------------


class _HasUserdata(Protocol):
    """A tool's `RunContext` or the session itself: either leads to the call state."""

    @property
    def userdata(self) -> CallState: ...


def audit_call_id(state: CallState) -> str:
    """How audit rows name their call: the SIP call id, else the room, else the call uid."""
    return state.caller.call_id or state.room_name or state.call_uid


async def _write_audit(source: _HasUserdata, tool: str, kwargs: dict[str, Any], outcome: str,
                       result: str | None, latency_ms: int) -> None:
    try:
        state = source.userdata  # inside the try: a session without userdata is logged
        services = services_or_default(state)
        if services is None:
            logger.warning("audit skipped for %s: no ToolServices", tool)
            return
        entry = AuditEntry(
            call_id=audit_call_id(state),
            caller=mask_phone(state.caller.phone_number),
            customer_id=state.verified_customer_id,
            tool=tool,
            arguments=json.dumps(redact_arguments(kwargs), ensure_ascii=False, default=str),
            outcome=outcome,
            result=redact(result)[:1000] if result else result,
            latency_ms=latency_ms,
        )
        await services.repo.write_audit(entry)
    except Exception:
        logger.exception("could not write the audit record for %s", tool)
