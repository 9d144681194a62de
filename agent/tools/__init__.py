"""Business tools for the phone agent, and the services they run on.

    from agent.tools import BUSINESS_TOOLS, ToolServices
    repo = await open_repository(settings.database_url)
    state = CallState(..., services=ToolServices(repo=repo))   # SMS goes to the outbox
    agent = Agent(instructions=..., tools=[*BUSINESS_TOOLS, ...])
    attach_tool_audit(session)   # audits calls whose JSON arguments could not even be parsed

The model only proposes tool calls; the backend decides. By concern: `validation` (arguments),
`verification` (who may see what), `confirmation` (read-back, explicit yes, act once),
`audit` (audit rows, filler speech, clean errors), `services` (the backends of a call).
By domain: `identity`, `orders`, `appointments`, `support`, `messages`.
"""

from __future__ import annotations

from collections.abc import Collection

from livekit.agents import AgentSession

from agent.call_state import CallState
from agent.data.services import ToolServices

from .appointments import (
    book_appointment,
    cancel_appointment,
    list_available_slots,
    list_my_appointments,
    reschedule_appointment,
)
from .audit import audit_unparsed_calls, redact
from .identity import lookup_customer, verify_identity
from .messages import BUSINESS_NAME, send_sms_confirmation
from .orders import check_order_status
from .services import set_default_services
from .support import capture_callback_number, create_support_ticket

BUSINESS_TOOLS = [
    lookup_customer,
    verify_identity,
    check_order_status,
    list_available_slots,
    list_my_appointments,
    book_appointment,
    reschedule_appointment,
    cancel_appointment,
    create_support_ticket,
    send_sms_confirmation,
    capture_callback_number,
]

_BUSINESS_TOOL_NAMES = frozenset(t.info.name for t in BUSINESS_TOOLS)


def attach_tool_audit(session: AgentSession[CallState],
                      tool_names: Collection[str] | None = None) -> None:
    """Audit business tool calls that fail before reaching the tool body (unparseable JSON).

    Call once per `AgentSession` (e.g. in the entrypoint, right after creating it). For every
    failed call of a business tool (or of `tool_names`) that `audited` never saw, the
    model-facing error is replaced by one speakable sentence and an audit row with outcome
    `invalid_arguments` is written.
    """
    audit_unparsed_calls(session, _BUSINESS_TOOL_NAMES if tool_names is None else tool_names)


__all__ = [
    "BUSINESS_NAME",
    "BUSINESS_TOOLS",
    "ToolServices",
    "attach_tool_audit",
    "book_appointment",
    "cancel_appointment",
    "capture_callback_number",
    "check_order_status",
    "create_support_ticket",
    "list_available_slots",
    "list_my_appointments",
    "lookup_customer",
    "redact",
    "reschedule_appointment",
    "send_sms_confirmation",
    "set_default_services",
    "verify_identity",
]
