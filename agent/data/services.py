"""The backends one call's tools run on: the repository and the business clock.

Lives in the data layer (not in `agent.tools`) so the call state can hold it with a real type
without importing the tools package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .repository import Repository


@dataclass
class ToolServices:
    """What the tools need, injected per call through `CallState.services`.

    SMS go to the repository's outbox (see `agent.data.sms`)."""

    repo: Repository
    filler_delay: float = 1.0  # idle seconds before "one moment" is spoken during a slow tool

    def today(self) -> date:
        """The business's date: the repository's clock, in `BUSINESS_TIMEZONE`."""
        return self.repo.clock().date()
