"""The backends one call's tools run on: the repository, the SMS sender and the clock.

Lives in the data layer (not in `agent.tools`) so the call state can hold it with a real type
without importing the tools package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from .repository import Repository
from .sms import OutboxSender, SmsSender


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
