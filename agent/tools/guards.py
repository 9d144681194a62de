"""Safe execution for business tools: validation, authorization, confirmation, idempotency,
audit and filler speech. The model only proposes tool calls; these guards decide.

* Validation - `parse_*` / `clean_text` turn raw model arguments into typed values or raise
  `ToolError` with one short sentence the agent can say. No stack trace ever reaches the model:
  `audited` converts unexpected exceptions into a generic apology.
* Authorization - `require_verified` returns the customer whose phone number matched the SIP
  caller and who passed a date-of-birth or PIN check (`CallState.verified_customer_id`, set only
  by `verify_identity`). Repository queries are scoped to that id in SQL, so no argument the
  model passes can reach another customer's data.
* Confirmation - `ConfirmationGate`: a state-changing tool first stores a pending action and
  returns a read-back for the caller. It executes only when called again with the same
  arguments AND the caller's most recent message in `ctx.session.history` is an explicit yes
  that arrived after that read-back. The model cannot fake this: there is no `confirmed`
  argument, and only user-role messages (the caller's transcribed speech) count.
* Idempotency - the executed action is keyed by (call, tool, arguments, the confirming message)
  in the `idempotency_keys` table; a repeated call returns the first result instead of acting
  twice. The database adds its own guarantees (one active booking per slot, one outbox row per
  SMS key).
* Audit - every call (redacted arguments, outcome, redacted result, latency, masked caller) is
  written to `audit_log`.
* Slow tools - `audited` wraps each call in `ctx.with_filler(...)`: if the session has been
  idle for `ToolServices.filler_delay` seconds while the tool still runs, the caller hears a
  short "one moment" instead of silence.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import hmac
import inspect
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from livekit.agents import RunContext, ToolError

from agent.call_state import CallState
from agent.data.repository import AuditEntry, Customer, Repository, check_pin
from agent.data.sms import OutboxSender, SmsSender
from agent.observability.redaction import redact as shared_redact

logger = logging.getLogger("phone-agent.tools")

T = TypeVar("T")

GENERIC_FAILURE = ("Sorry, something went wrong on our side and nothing was changed. "
                   "Please try again in a moment, or I can transfer you to a colleague.")
MAX_VERIFICATION_FAILURES = 3
PENDING_TTL_S = 300.0
MAX_ARG_CHARS = 2000  # anything longer than this is rejected before any parsing


# -- services ------------------------------------------------------------------------------------


@dataclass
class ToolServices:
    """What the tools need, injected per call through `CallState.services`."""

    repo: Repository
    sms: SmsSender | None = None
    filler_delay: float = 1.0  # idle seconds before "one moment" is spoken during a slow tool
    today: Callable[[], date] = field(default=date.today)

    def __post_init__(self) -> None:
        if self.sms is None:
            self.sms = OutboxSender(self.repo)


_default_services: ToolServices | None = None


def set_default_services(services: ToolServices | None) -> None:
    """Process-wide fallback when a session's `CallState.services` is not set."""
    global _default_services
    _default_services = services


def services_of(ctx: RunContext[CallState]) -> ToolServices:
    state = ctx.userdata
    services = getattr(state, "services", None) or _default_services
    if services is None:
        logger.error("business tool called without ToolServices (CallState.services is None)")
        raise ToolError("Sorry, I can't reach our records right now. "
                        "I can take a callback number or transfer you to a colleague.")
    return services


# -- errors --------------------------------------------------------------------------------------


class NotAllowed(ToolError):
    """The caller is not allowed to do this (not verified, not their record, locked)."""


# -- redaction -----------------------------------------------------------------------------------

_SECRET_KEYS = {"pin", "date_of_birth", "dob", "password", "passcode"}
_PHONE_KEYS = {"phone_number", "phone", "caller", "recipient", "to"}


def mask_phone(number: str | None) -> str | None:
    """`+14155550142` → `+1•••••••42`: enough to tell calls apart, not to dial."""
    if not number:
        return number
    digits = re.sub(r"\D", "", number)
    if len(digits) < 4:
        return "•" * len(digits)
    return ("+" if number.strip().startswith("+") else "") + digits[0] + "•" * (
        len(digits) - 3) + digits[-2:]


def redact(text: str) -> str:
    """Remove phone numbers, emails, card numbers, dates of birth and PINs from free text."""
    return shared_redact(text) if text else text


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


# -- validation ----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        text = str(value)
    else:
        raise ToolError("That value isn't in a form I can use. Please say it again.")
    if len(text) > MAX_ARG_CHARS:
        raise ToolError("That's too long for me to use. Please keep it short.")
    return text.strip()


def clean_text(value: Any, *, what: str, max_len: int, min_len: int = 1,
               required: bool = True) -> str:
    """Free text: control characters removed, whitespace collapsed, length checked."""
    text = _CONTROL.sub("", _as_str(value))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        if required:
            raise ToolError(f"I need the {what} first. Please ask the caller for it.")
        return ""
    if len(text) > max_len:
        raise ToolError(f"The {what} is too long. Please summarise it in a sentence or two.")
    if len(text) < min_len:
        raise ToolError(f"The {what} is too short. Please ask for a little more detail.")
    return text


def parse_id(value: Any, *, what: str, max_digits: int = 9) -> int:
    """A numeric id as spoken ("slot 12", "#12", "12") → 12; anything else is a clean error."""
    text = _as_str(value)
    if not text:
        raise ToolError(f"I need the {what} number first.")
    m = re.fullmatch(rf"(?i)(?:[a-z ]{{0,12}}?)[#\s]*(\d{{1,{max_digits}}})", text)
    if not m:
        raise ToolError(f"That doesn't look like a {what} number. It should be just digits.")
    number = int(m.group(1))
    if number <= 0:
        raise ToolError(f"That doesn't look like a valid {what} number.")
    return number


def parse_order_number(value: Any) -> str:
    text = _as_str(value)
    compact = re.sub(r"(?i)^\s*(?:(?:order|ord)\s*(?:number|no\.?)?)?\s*[-#:]?\s*", "", text)
    compact = re.sub(r"[\s-]", "", compact)
    if not re.fullmatch(r"\d{6}", compact):
        raise ToolError("That doesn't look like an order number. Order numbers are six digits, "
                        "printed on the confirmation email.")
    return compact


def parse_date(value: Any, *, today: date, what: str = "date", allow_past: bool = False,
               max_days_ahead: int | None = 90) -> date:
    text = _as_str(value).lower()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        raise ToolError(f"I couldn't read that {what}. Please give it as year, month and day.")
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ToolError(f"That {what} doesn't exist on the calendar. "
                        "Please check the day and month.") from None
    if not allow_past and parsed < today:
        raise ToolError(f"That {what} is in the past. Please choose a future date.")
    if max_days_ahead is not None and parsed > today + timedelta(days=max_days_ahead):
        raise ToolError(f"That {what} is too far ahead; we book up to "
                        f"{max_days_ahead} days in advance.")
    return parsed


def parse_birth_date(value: Any, *, today: date) -> date:
    parsed = parse_date(value, today=today, what="date of birth", allow_past=True,
                        max_days_ahead=None)
    if parsed > today or parsed.year < 1900:
        raise ToolError("That date of birth doesn't look right. Please check the year.")
    return parsed


def parse_pin(value: Any) -> str:
    text = re.sub(r"[\s-]", "", _as_str(value)).rstrip("#")
    if not re.fullmatch(r"\d{4,8}", text):
        raise ToolError("A PIN is four to eight digits. Please ask the caller to type or say it "
                        "again.")
    return text


def parse_phone(value: Any) -> str:
    """Spoken or typed phone number → E.164. North American 10-digit numbers get +1."""
    text = _as_str(value)
    if len(text) > 40 or not re.fullmatch(r"[+\d\s().-]+", text):
        raise ToolError("That doesn't look like a phone number. Please say the digits, "
                        "including the area code.")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or text.startswith("00"):
        digits = digits[2:] if text.startswith("00") else digits
        e164 = "+" + digits
    elif len(digits) == 10:
        e164 = "+1" + digits
    elif len(digits) == 11 and digits.startswith("1"):
        e164 = "+" + digits
    else:
        raise ToolError("Please give the full phone number including the area code.")
    if not re.fullmatch(r"\+[1-9]\d{7,14}", e164):
        raise ToolError("That phone number has the wrong number of digits. Please check it.")
    return e164


def normalize_caller_number(number: str | None) -> str | None:
    """The SIP caller number as E.164, or None when unknown or withheld."""
    if not number:
        return None
    raw = number.strip().removeprefix("tel:").removeprefix("sip:").split("@")[0]
    try:
        return parse_phone(raw)
    except ToolError:
        # Caller ID without the leading "+" (e.g. 447700900123): digits are all we have.
        digits = re.sub(r"\D", "", raw)
        return "+" + digits if re.fullmatch(r"[1-9]\d{10,14}", digits) else None


def speakable_phone(e164: str) -> str:
    """`+14155550142` → `+1 415 555 0142` (grouped so TTS reads digits)."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"+1 {e164[2:5]} {e164[5:8]} {e164[8:]}"
    d = e164[1:]
    return "+" + " ".join(d[i:i + 3] for i in range(0, len(d), 3))


def speakable_slot(starts_at: datetime) -> str:
    return starts_at.strftime("%A, %B ") + str(starts_at.day) + " at " + \
        starts_at.strftime("%I:%M %p").lstrip("0")


# -- authorization -------------------------------------------------------------------------------


async def require_verified(ctx: RunContext[CallState]) -> Customer:
    """The verified caller's customer record, or a refusal the agent can say."""
    state = ctx.userdata
    if state.verified_customer_id is None:
        raise NotAllowed("I need to verify the caller before I can look at or change account "
                         "details. Ask for their date of birth or their keypad PIN.")
    customer = await services_of(ctx).repo.customer_by_id(state.verified_customer_id)
    caller = normalize_caller_number(state.caller.phone_number)
    if customer is None or caller != customer.phone_e164:
        # The verified identity must still belong to the number on the line.
        state.verified_customer_id = None
        raise NotAllowed("I can't confirm the caller's identity any more. Please verify again.")
    return customer


def check_pin_or_dob(customer: Customer, *, pin: str, date_of_birth: str, today: date) -> bool:
    """True when every factor given matches (malformed values raise `ToolError` first)."""
    checks: list[bool] = []
    if str(pin).strip():
        checks.append(check_pin(parse_pin(pin), customer.pin_hash))
    if str(date_of_birth).strip():
        given = parse_birth_date(date_of_birth, today=today).isoformat()
        checks.append(hmac.compare_digest(given, customer.date_of_birth))
    return bool(checks) and all(checks)


# -- confirmation gate ---------------------------------------------------------------------------

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


@dataclass
class PendingAction:
    tool: str
    fingerprint: str
    readback: str
    call_id: str  # the function call that produced the read-back
    user_msg_id: str | None  # the latest caller message when the read-back was produced
    created: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _UserTurn:
    id: str | None
    text: str | None
    index: int


def _latest_user_turn(ctx: RunContext[CallState]) -> _UserTurn:
    items = list(ctx.session.history.items)
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if getattr(item, "type", None) == "message" and getattr(item, "role", None) == "user":
            return _UserTurn(item.id, item.text_content, index)
    return _UserTurn(None, None, -1)


def _readback_index(ctx: RunContext[CallState], call_id: str) -> int | None:
    for index, item in enumerate(ctx.session.history.items):
        if getattr(item, "type", None) == "function_call_output" and item.call_id == call_id:
            return index
    return None


def fingerprint(tool: str, args: dict[str, Any]) -> str:
    return tool + ":" + json.dumps(args, sort_keys=True, default=str)


def _idempotency_key(state: CallState, fp: str, user_msg_id: str | None) -> str:
    raw = f"{state.call_uid}|{fp}|{user_msg_id or '-'}"
    return hashlib.sha256(raw.encode()).hexdigest()


class ConfirmationGate:
    """The backend's confirmation + idempotency gate for one state-changing tool call.

        gate = ConfirmationGate(ctx, tool="cancel_appointment", args={"booking_id": 7})
        if (done := await gate.replay()) is not None:
            return done                      # a repeat of an executed call: first result
        ...validate against current data, build the read-back...
        return await gate.run(readback, action)

    First call (or changed arguments): remember the action and return the read-back for the
    agent to say. A later call with the same arguments runs `action` only if the caller's most
    recent message is an explicit yes that is newer than the read-back; otherwise it refuses
    and asks again. A repeat of an executed call (same arguments, same confirming message)
    returns the stored first result and does nothing.
    """

    def __init__(self, ctx: RunContext[CallState], *, tool: str, args: dict[str, Any]) -> None:
        self.ctx = ctx
        self.tool = tool
        self.state: CallState = ctx.userdata
        self.repo = services_of(ctx).repo
        self.fp = fingerprint(tool, args)
        self.user = _latest_user_turn(ctx)
        self.key = _idempotency_key(self.state, self.fp, self.user.id)

    async def replay(self) -> str | None:
        existing = await self.repo.idempotency_result(self.key)
        if existing is None:
            return None
        note_outcome("duplicate")
        status, result = existing
        if status == "done":
            return f"Already done; nothing was repeated. {result}"
        return "That request is already being processed; nothing was repeated."

    async def run(self, readback: str, action: Callable[[], Awaitable[str]]) -> str:
        state, tool, user = self.state, self.tool, self.user
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

        claimed, stored, _status = await self.repo.claim_idempotency_key(
            self.key, tool=tool, call_id=state.call_uid)
        if not claimed:
            note_outcome("duplicate")
            if _status != "done":
                return "That request is already being processed; nothing was repeated."
            return f"Already done; nothing was repeated. {stored or ''}".strip()
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


async def confirm_then_run(ctx: RunContext[CallState], *, tool: str, args: dict[str, Any],
                           readback: str, action: Callable[[], Awaitable[str]]) -> str:
    """`ConfirmationGate(ctx, tool=, args=).run(readback, action)` in one call."""
    return await ConfirmationGate(ctx, tool=tool, args=args).run(readback, action)


# -- audit + filler decorator --------------------------------------------------------------------


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


FILLERS = {
    "read": "One moment while I check that.",
    "write": "One moment while I take care of that.",
}


def audited(kind: str = "read") -> Callable[[Callable[..., Awaitable[str]]],
                                            Callable[..., Awaitable[str]]]:
    """Wrap a tool body: filler speech if slow, clean errors, and one audit row per call.

    Apply *under* `@function_tool` so the framework still sees the original signature.
    """

    def decorate(fn: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
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
                if record.outcome and outcome == "ok":
                    outcome = record.outcome
                elif record.outcome == "not_confirmed":
                    outcome = "not_confirmed"
                await asyncio.shield(_write_audit(ctx, tool_name, kwargs, outcome,
                                                  result if error is None else error,
                                                  latency_ms))

        return wrapper

    return decorate


_AUDITED_CALL_IDS: OrderedDict[str, None] = OrderedDict()


def _remember_audited(ctx: Any) -> None:
    call = getattr(ctx, "function_call", None)
    call_id = getattr(call, "call_id", None)
    if call_id:
        _AUDITED_CALL_IDS[call_id] = None
        while len(_AUDITED_CALL_IDS) > 10_000:
            _AUDITED_CALL_IDS.popitem(last=False)


UNREADABLE_ARGUMENTS = ("I couldn't read the details of that request. Please ask the caller "
                        "again and try once more.")


def attach_tool_audit(session: Any, tool_names: set[str] | None = None) -> None:
    """Cover tool calls that fail before reaching the tool body (unparseable JSON arguments).

    Call once per `AgentSession` (e.g. in the entrypoint, right after creating it). For every
    failed call of a business tool that `audited` never saw, the model-facing error is replaced
    by one speakable sentence and an audit row with outcome `invalid_arguments` is written.
    """
    if tool_names is None:
        from .business import BUSINESS_TOOLS

        tool_names = {t.info.name for t in BUSINESS_TOOLS}
    pending: set[asyncio.Task[None]] = set()

    def on_executed(ev: Any) -> None:
        for call, out in ev.zipped():
            if call.name not in tool_names or call.call_id in _AUDITED_CALL_IDS:
                continue
            if not out.is_error:
                continue
            out.output = UNREADABLE_ARGUMENTS
            ctx = _AuditOnlyCtx(session.userdata)
            raw = {"raw_arguments": str(call.arguments)[:300]}
            task = asyncio.get_running_loop().create_task(
                _write_audit(ctx, call.name, raw, "invalid_arguments", UNREADABLE_ARGUMENTS, 0))
            pending.add(task)
            task.add_done_callback(pending.discard)

    session.on("function_tools_executed", on_executed)


@dataclass
class _AuditOnlyCtx:
    userdata: Any


class _NoFiller:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _filler(ctx: Any, kind: str) -> Any:
    """`ctx.with_filler(...)` inside a live session; a no-op for direct calls in unit tests."""
    services = getattr(ctx.userdata, "services", None) or _default_services
    delay = services.filler_delay if services is not None else 1.0
    if isinstance(ctx, RunContext) and delay is not None and delay >= 0:
        return ctx.with_filler(FILLERS.get(kind, FILLERS["read"]), delay=delay)
    return _NoFiller()


async def _write_audit(ctx: Any, tool: str, kwargs: dict[str, Any], outcome: str,
                       result: str | None, latency_ms: int) -> None:
    try:
        state: CallState = ctx.userdata
        services = getattr(state, "services", None) or _default_services
        if services is None:
            logger.warning("audit skipped for %s: no ToolServices", tool)
            return
        entry = AuditEntry(
            call_id=state.caller.call_id or state.room_name or state.call_uid,
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
