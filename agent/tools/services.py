"""Where a tool finds its backends: the call's `ToolServices`, or a process-wide default."""

from __future__ import annotations

import logging

from livekit.agents import RunContext, ToolError

from agent.call_state import CallState
from agent.data.services import ToolServices

__all__ = ["ToolServices", "services_of", "services_or_default", "set_default_services"]

logger = logging.getLogger("phone-agent.tools")

_default_services: ToolServices | None = None


def set_default_services(services: ToolServices | None) -> None:
    """Process-wide fallback when a session's `CallState.services` is not set."""
    global _default_services
    _default_services = services


def services_or_default(state: object) -> ToolServices | None:
    """The services for this userdata, or the default; None when neither is set.

    Takes any userdata: the audit and filler paths must not fail on a session whose userdata
    is not a `CallState`."""
    return getattr(state, "services", None) or _default_services


def services_of(ctx: RunContext[CallState]) -> ToolServices:
    """The services a tool body runs on, or a sentence the agent can say when there are none."""
    services = services_or_default(ctx.userdata)
    if services is None:
        logger.error("business tool called without ToolServices (CallState.services is None)")
        raise ToolError("Sorry, I can't reach our records right now, so I can't do that. I can "
                        "transfer you to a colleague, or you can call back a little later.")
    return services
