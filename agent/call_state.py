"""Per-call state shared by the agent, its tools and the telephony layer (session userdata)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .data.services import ToolServices


class EndedBy(StrEnum):
    """Why a call ended: the closed set written to `calls.ended_by`."""

    CALLER = "caller"  # the caller (or callee of an outbound call) hung up
    AGENT = "agent"  # the agent ended the call (end_call) or the session closed on its own
    TRANSFER = "transfer"  # handed to a human (REFER or warm transfer)
    ERROR = "error"  # the session closed with an error
    VOICEMAIL = "voicemail"  # outbound: a message was left on an answering machine
    BUSY = "busy"  # outbound: the callee rejected the call
    NO_ANSWER = "no_answer"  # outbound: nobody picked up in time
    FAILED = "failed"  # outbound: the dial itself failed (bad number, no trunk, bridge down)


@dataclass
class CallerInfo:
    """Who is on the line, as the SIP bridge (or the browser token) told us."""

    identity: str = ""
    kind: str = "browser"  # "sip" (phone) or "browser"; the call record's channel
    phone_number: str | None = None  # caller's number (inbound) / callee's (outbound)
    dialled_number: str | None = None  # our trunk number
    call_id: str | None = None  # LiveKit SIP call id (SCL_...)
    direction: str = "inbound"  # "inbound" | "outbound"

    @property
    def is_phone(self) -> bool:
        return self.kind == "sip"


@dataclass
class PendingAction:
    """A state-changing tool call read back to the caller and waiting for their yes."""

    tool: str
    fingerprint: str
    readback: str
    call_id: str  # the function call whose output carried the read-back
    created: float = field(default_factory=time.monotonic)
    confirmed_by: str | None = None  # the caller's yes, while the action it confirmed runs


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
    # Set through `end()` only; read by the call record when the session closes.
    ended_by: EndedBy | None = None
    # Set while a REFER is under way: the caller's leg drops as soon as the transfer
    # connects, often before the transfer API call returns.
    transfer_in_progress: bool = False
    # Set when the caller's leg has left the room (hang-up or a transfer taking it away).
    caller_gone: asyncio.Event = field(default_factory=asyncio.Event, repr=False,
                                       compare=False)
    dispatch_metadata: dict[str, Any] = field(default_factory=dict)

    # --- business tools (agent/tools) ---
    # The repository and clock; set by the call lifecycle (agent/call.py) or a test.
    services: ToolServices | None = None
    # The database could not be opened at call start: the agent says what it can't do.
    records_unavailable: bool = False
    # Unique per call; scopes idempotency keys so a repeated tool call never runs twice.
    call_uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The one state-changing action read back to the caller and waiting for their answer
    # (see agent/tools/confirmation.py): the caller's next turn decides it.
    pending_action: PendingAction | None = None
    # How the verified caller proved it: changes to an account with a PIN need the PIN.
    verified_with_pin: bool = False

    def end(self, reason: EndedBy, *, override: bool = False) -> None:
        """Record why the call ended. The first reason wins unless `override` (an outbound
        dial outcome replaces the bridge's hang-up of a call that never connected)."""
        if self.ended_by is None or override:
            self.ended_by = EndedBy(reason)

    def caller_left(self) -> None:
        """The caller's leg is gone: by hanging up, or because a transfer took them away."""
        self.end(EndedBy.TRANSFER if self.transfer_in_progress else EndedBy.CALLER)
        self.caller_gone.set()
