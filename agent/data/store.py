"""The state every part of the repository shares: the open database and the business clock.

Each concern (customers, appointments, support, call log, audit) is a `Store` subclass; the
public `Repository` combines them, so tools keep one object with one flat, typed API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .db import Database


class Store:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        # Local wall-clock "now" of the business, used to hide past slots. Injectable for tests.
        self.clock: Callable[[], datetime] = clock or datetime.now
