"""The audit log of tool calls, and the idempotency keys that stop a repeated tool call from
acting twice (see the confirmation gate in `agent.tools`)."""

from __future__ import annotations

from collections.abc import Callable

from .records import AuditEntry, IdempotencyClaim, IdempotencyState, from_row
from .sql import SqlValue, Tx, utc_now
from .store import Store

# `status` columns are read straight into the `IdempotencyStatus` literal: the table's CHECK
# constraint admits only "in_progress" and "done" ("in_progress" exists only inside the
# transaction of `run_once`, so other readers see "done" or no row).

# What an audit row's `outcome` means, in the five results the metrics and the call-quality
# report use: ok (it ran, or read a change back for confirmation, or repeated a done one),
# refused (the backend said no: not allowed, not confirmed, identity locked out), invalid (bad
# arguments), error (it failed), cancelled (the caller moved on before it finished).
TOOL_RESULTS: dict[str, str] = {
    "ok": "ok", "duplicate": "ok", "awaiting_confirmation": "ok",
    "denied": "refused", "not_confirmed": "refused", "locked": "refused",
    "error": "invalid", "invalid_arguments": "invalid",
    "failure": "error",
    "cancelled": "cancelled",
}


def tool_result(outcome: str) -> str:
    """The result class of an audit outcome (unknown outcomes count as errors)."""
    return TOOL_RESULTS.get(outcome, "error")


class AuditLog(Store):
    # -- audit log ---------------------------------------------------------------------------

    async def write_audit(self, entry: AuditEntry) -> None:
        await self.db.execute(
            "INSERT INTO audit_log (at, call_id, caller, customer_id, tool, arguments, outcome,"
            " result, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.at or utc_now(), entry.call_id, entry.caller, entry.customer_id, entry.tool,
             entry.arguments, entry.outcome, entry.result, entry.latency_ms),
        )

    async def audit_entries(self, *, call_id: str | None = None,
                            tool: str | None = None) -> list[AuditEntry]:
        sql = "SELECT * FROM audit_log WHERE 1 = 1"
        params: list[SqlValue] = []
        if call_id is not None:
            sql += " AND call_id = ?"
            params.append(call_id)
        if tool is not None:
            sql += " AND tool = ?"
            params.append(tool)
        rows = await self.db.fetchall(sql + " ORDER BY id", params)
        return [from_row(AuditEntry, r) for r in rows]

    async def audit_between(self, start: str, end: str) -> list[AuditEntry]:
        """Audit rows written in [start, end) (ISO-8601 UTC)."""
        rows = await self.db.fetchall(
            "SELECT * FROM audit_log WHERE at >= ? AND at < ? ORDER BY id", (start, end))
        return [from_row(AuditEntry, r) for r in rows]

    # -- idempotency keys --------------------------------------------------------------------

    async def run_once(self, key: str, *, tool: str, call_id: str | None,
                       work: Callable[[Tx], str]) -> IdempotencyClaim:
        """Run `work(tx)` and record its result under `key`, both in ONE transaction.

        Returns `(True, result, "done")` when it ran now. When `key` was recorded before,
        nothing runs and the stored result comes back with `claimed` False. If `work` (or
        recording its result) fails, the transaction rolls back: neither the change nor the
        key remains, so "nothing was changed" is then the truth and a retry can run."""

        def run(tx: Tx) -> IdempotencyClaim:
            n = tx.execute(
                "INSERT INTO idempotency_keys (key, tool, call_id, status, created_at)"
                " VALUES (?, ?, ?, 'in_progress', ?) ON CONFLICT (key) DO NOTHING",
                (key, tool, call_id, utc_now()),
            )
            if n != 1:  # recorded before (PostgreSQL: a concurrent holder has committed)
                row = tx.fetchone("SELECT status, result FROM idempotency_keys WHERE key = ?",
                                  (key,))
                assert row is not None
                return IdempotencyClaim(False, row["result"], row["status"])
            result = work(tx)
            tx.execute("UPDATE idempotency_keys SET status = 'done', result = ? WHERE key = ?",
                       (result, key))
            return IdempotencyClaim(True, result, "done")

        return await self.db.transaction(run)

    async def idempotency_result(self, key: str) -> IdempotencyState | None:
        row = await self.db.fetchone("SELECT status, result FROM idempotency_keys WHERE key = ?",
                                     (key,))
        return IdempotencyState(row["status"], row["result"]) if row else None
