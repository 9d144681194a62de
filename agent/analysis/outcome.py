"""The structured outcome of a call: what the model is shown, what it must answer, and what is
stored.

The model reads a digest of the call made only of what the call record already holds in
redacted form: transcript lines, tool calls from the audit log (redacted arguments, outcome,
redacted result) and call events (transfers, outbound outcomes). It answers one JSON object
validated against `MODEL_SCHEMA`.

The model judges (reason, resolved, follow-up, sentiment, why a transfer happened); the
backend states the facts: `actions` come from the audit log's successful tool calls and the
transfer events, never from the model, and `transfer_reason` is kept only when a transfer
really happened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator

from ..data.repository import AuditEntry, CallEvent, CallRecord
from ..observability.redaction import redact

MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "reason", "resolved", "follow_up", "sentiment", "transfer_reason"],
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 800},
        "reason": {"type": "string", "minLength": 1, "maxLength": 200},
        "resolved": {"type": "boolean"},
        "follow_up": {
            "type": "object",
            "additionalProperties": False,
            "required": ["needed", "detail"],
            "properties": {"needed": {"type": "boolean"},
                           "detail": {"type": ["string", "null"], "maxLength": 300}},
        },
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
        "transfer_reason": {"type": ["string", "null"], "maxLength": 200},
    },
}
_VALIDATOR = Draft202012Validator(MODEL_SCHEMA)

# Tools whose successful run is an action taken for the caller.
ACTION_TOOLS = {
    "book_appointment": "booking",
    "reschedule_appointment": "reschedule",
    "cancel_appointment": "cancellation",
    "create_support_ticket": "ticket",
    "send_sms_confirmation": "sms",
    "capture_callback_number": "callback",
}
TRANSFER_EVENTS = ("transfer", "warm_transfer")


class OutcomeInvalid(ValueError):
    """The model's answer is not the JSON object the schema asks for; `str()` says why."""


def validate(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutcomeInvalid(f"not JSON ({exc.msg})") from None
    errors = sorted(_VALIDATOR.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "the object"
        raise OutcomeInvalid(f"{where}: {first.message}"[:300])
    assert isinstance(value, dict)
    return value


def actions_taken(audit: Sequence[AuditEntry], events: Sequence[CallEvent]) -> list[dict[str, str]]:
    actions = [{"type": ACTION_TOOLS[a.tool], "tool": a.tool,
                "detail": redact(a.result or "")[:200]}
               for a in audit if a.tool in ACTION_TOOLS and a.outcome == "ok"]
    actions += [{"type": "transfer", "tool": e["kind"], "detail": (e["detail"] or "")[:200]}
                for e in events if e["kind"] in TRANSFER_EVENTS]
    return actions


def digest(record: CallRecord | None, lines: Sequence[CallEvent], audit: Sequence[AuditEntry],
           events: Sequence[CallEvent]) -> str:
    """The call as the model sees it (everything in it is already redacted)."""
    out = ["The finished call, for the JSON summary:"]
    if record is not None:
        out.append(f"{record['direction']} {record['channel']} call, "
                   f"ended by {record['ended_by'] or 'unknown'} after "
                   f"{record['duration_s'] or 0:.0f} seconds.")
    out.append("Transcript:")
    out += [f"{'caller' if e['role'] == 'user' else 'agent'}: {e['text']}" for e in lines]
    if audit:
        out.append("Tool calls (arguments, outcome, result):")
        out += [f"- {a.tool}({a.arguments}) -> {a.outcome}: {a.result or ''}" for a in audit]
    if events:
        out.append("Call events:")
        out += [f"- {e['kind']}: {e['detail'] or ''}" for e in events]
    return redact("\n".join(out))


def stored_outcome(answer: dict[str, Any], actions: list[dict[str, str]]) -> dict[str, Any]:
    """What `calls.outcome` holds: the model's judgement plus the backend's facts."""
    transferred = any(a["type"] == "transfer" for a in actions)
    return {
        "reason": answer["reason"],
        "resolved": answer["resolved"],
        "actions": actions,
        "follow_up": answer["follow_up"],
        "sentiment": answer["sentiment"],
        "transfer_reason": answer["transfer_reason"] if transferred else None,
    }
