"""Business tools for the phone agent, and the services they run on.

    from agent.tools import BUSINESS_TOOLS, ToolServices
    repo = await open_repository(settings.database_url)
    state = CallState(..., services=ToolServices(repo=repo))   # SMS goes to the outbox
    agent = Agent(instructions=..., tools=[*BUSINESS_TOOLS, ...])
    attach_tool_audit(session)   # audits calls whose JSON arguments could not even be parsed
"""

from __future__ import annotations

from .business import (
    BUSINESS_TOOLS,
    book_appointment,
    cancel_appointment,
    capture_callback_number,
    check_order_status,
    create_support_ticket,
    list_available_slots,
    list_my_appointments,
    lookup_customer,
    reschedule_appointment,
    send_sms_confirmation,
    verify_identity,
)
from .guards import ToolServices, attach_tool_audit, redact, set_default_services

__all__ = [
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
