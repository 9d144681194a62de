"""Per-call state shared by the agent, its tools and the telephony layer (session userdata)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallerInfo:
    """Who is on the line, as the SIP bridge (or the browser token) told us."""

    identity: str = ""
    kind: str = "standard"  # "sip" or "standard" (browser)
    phone_number: str | None = None  # caller's number (inbound) / callee's (outbound)
    dialled_number: str | None = None  # our trunk number
    call_id: str | None = None  # LiveKit SIP call id (SCL_...)
    direction: str = "inbound"  # "inbound" | "outbound"

    @property
    def is_phone(self) -> bool:
        return self.kind == "sip"


@dataclass
class CallState:
    """Typed userdata for `AgentSession[CallState]`; read as `ctx.userdata` in tools."""

    room_name: str = ""
    caller: CallerInfo = field(default_factory=CallerInfo)
    started_at: float = field(default_factory=time.time)
    # Set once the caller has proven who they are (see agent/tools); tools check it.
    verified_customer_id: int | None = None
    # Keypad digits received since the agent last asked for a number.
    dtmf_buffer: str = ""
    ended_by: str | None = None  # "caller" | "agent" | "transfer" | "error"
    # Set while a REFER is under way: the caller's leg drops as soon as the transfer
    # connects, often before the transfer API call returns.
    transfer_in_progress: bool = False
    dispatch_metadata: dict = field(default_factory=dict)

    # --- business tools (agent/tools) ---
    # `agent.tools.ToolServices` (repository + SMS sender); set by the entrypoint or a test.
    services: Any = None
    # Unique per call; scopes idempotency keys so a repeated tool call never runs twice.
    call_uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    # State-changing actions read back to the caller and waiting for their explicit "yes",
    # keyed by tool name (see agent/tools/guards.py, the confirmation gate).
    pending_actions: dict[str, Any] = field(default_factory=dict)
    verification_failures: int = 0  # failed date-of-birth / PIN checks in this call

    def caller_left(self) -> None:
        """The caller's leg is gone: by hanging up, or because a transfer took them away."""
        if self.ended_by is None:
            self.ended_by = "transfer" if self.transfer_in_progress else "caller"
