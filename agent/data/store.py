"""The state every part of the repository shares: the open database and the business clock.

Each concern (customers, appointments, support, call log, audit) is a `Store` subclass; the
public `Repository` combines them, so tools keep one object with one flat, typed API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from ..config_parsers import DEFAULT_BUSINESS_TIMEZONE
from .db import Database


def business_clock(zone: ZoneInfo) -> Callable[[], datetime]:
    """The business's wall-clock "now" (naive, like the stored slot times), whatever zone the
    worker's own clock is set to."""
    return lambda: datetime.now(zone).replace(tzinfo=None)


class Store:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None,
                 timezone: ZoneInfo | None = None) -> None:
        self.db = db
        self.timezone = timezone or ZoneInfo(DEFAULT_BUSINESS_TIMEZONE)
        # Local wall-clock "now" of the business, used to hide past slots. Injectable for tests.
        self.clock: Callable[[], datetime] = clock or business_clock(self.timezone)
