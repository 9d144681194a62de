"""What outbound calls must respect, as data: the do-not-call list, and the attempts made to
each number (the daily limit counts them). Enforced by agent/telephony/outbound_policy.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .sql import utc_now
from .store import Store


class OutboundRuleStore(Store):
    async def add_do_not_call(self, phone_e164: str, *, source: str) -> None:
        """Never call `phone_e164` again (idempotent). `source`: who asked, e.g. "callee"."""
        await self.db.execute(
            "INSERT INTO do_not_call (phone_e164, source, added_at) VALUES (?, ?, ?)"
            " ON CONFLICT (phone_e164) DO NOTHING", (phone_e164, source, utc_now()))

    async def is_do_not_call(self, phone_e164: str) -> bool:
        row = await self.db.fetchone("SELECT 1 AS x FROM do_not_call WHERE phone_e164 = ?",
                                     (phone_e164,))
        return row is not None

    async def record_outbound_attempt(self, phone_e164: str, *, call_uid: str) -> None:
        await self.db.execute(
            "INSERT INTO outbound_attempts (phone_e164, call_uid, at) VALUES (?, ?, ?)",
            (phone_e164, call_uid, utc_now()))

    async def outbound_attempts(self, phone_e164: str, *, within: timedelta) -> int:
        """How many calls were placed to `phone_e164` in the last `within`."""
        since = (datetime.now(UTC) - within).isoformat(timespec="seconds")
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM outbound_attempts WHERE phone_e164 = ? AND at > ?",
            (phone_e164, since))
        return int(row["n"]) if row else 0
