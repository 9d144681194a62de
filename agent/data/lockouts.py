"""Failed identity checks, persisted: counted per customer and per calling number across
calls, so hanging up and calling again never buys fresh tries (see agent/tools/verification)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from .sql import Tx, utc_now
from .store import Store


def customer_subject(customer_id: int | None) -> str:
    """The lockout subject of a customer; `None` (no account) gets a subject no one has."""
    return f"customer:{customer_id if customer_id is not None else '-'}"


def number_subject(phone_e164: str) -> str:
    """The lockout subject of a calling number (hashed: the table keeps no phone numbers)."""
    return "number:" + hashlib.sha256(phone_e164.encode()).hexdigest()[:32]


class LockoutStore(Store):
    async def verification_failures(self, subjects: Sequence[str], *,
                                    within: timedelta) -> list[int]:
        """How many checks failed for each subject in the last `within`."""
        since = (datetime.now(UTC) - within).isoformat(timespec="seconds")

        def count(tx: Tx) -> list[int]:
            out = []
            for subject in subjects:
                row = tx.fetchone("SELECT COUNT(*) AS n FROM verification_failures"
                                  " WHERE subject = ? AND at > ?", (subject, since))
                out.append(int(row["n"]) if row else 0)
            return out

        return await self.db.run(count)

    async def record_verification_failure(self, subjects: Sequence[str], *,
                                          within: timedelta) -> None:
        """One more failure for each subject; failures older than `within` are dropped, so
        the table holds no more than the lockout window needs."""
        since = (datetime.now(UTC) - within).isoformat(timespec="seconds")

        def record(tx: Tx) -> None:
            now = utc_now()
            for subject in subjects:
                tx.execute("DELETE FROM verification_failures WHERE subject = ? AND at <= ?",
                           (subject, since))
                tx.execute("INSERT INTO verification_failures (subject, at) VALUES (?, ?)",
                           (subject, now))

        await self.db.transaction(record)

    async def clear_verification_failures(self, subjects: Sequence[str]) -> None:
        """A successful check starts the count again."""
        def clear(tx: Tx) -> None:
            for subject in subjects:
                tx.execute("DELETE FROM verification_failures WHERE subject = ?", (subject,))

        await self.db.transaction(clear)
