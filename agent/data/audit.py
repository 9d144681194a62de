"""The audit log of tool calls, and the idempotency keys that stop a repeated tool call from
acting twice (see the confirmation gate in `agent.tools`)."""

from __future__ import annotations

from .records import AuditEntry, IdempotencyClaim, IdempotencyState, from_row
from .sql import SqlValue, Tx, utc_now
from .store import Store

# `status` columns are read straight into the `IdempotencyStatus` literal: the table's CHECK
# constraint admits only "in_progress" and "done".

# What an audit row's `outcome` means, in the five results the metrics and the call-quality
# report use: ok (it ran, or read a change back for confirmation, or repeated a done one),
# refused (the backend said no: not allowed, not confirmed), invalid (bad arguments),
# error (it failed), cancelled (the caller moved on before it finished).
TOOL_RESULTS: dict[str, str] = {
    "ok": "ok", "duplicate": "ok", "awaiting_confirmation": "ok",
    "denied": "refused", "not_confirmed": "refused",
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

    async def claim_idempotency_key(self, key: str, *, tool: str,
                                    call_id: str | None) -> IdempotencyClaim:
        """Try to claim `key`: `(claimed, stored_result, status)`, see `IdempotencyClaim`."""

        def work(tx: Tx) -> IdempotencyClaim:
            n = tx.execute(
                "INSERT INTO idempotency_keys (key, tool, call_id, status, created_at)"
                " VALUES (?, ?, ?, 'in_progress', ?) ON CONFLICT (key) DO NOTHING",
                (key, tool, call_id, utc_now()),
            )
            if n == 1:
                return IdempotencyClaim(True, None, "in_progress")
            row = tx.fetchone("SELECT status, result FROM idempotency_keys WHERE key = ?", (key,))
            assert row is not None
            return IdempotencyClaim(False, row["result"], row["status"])

        return await self.db.transaction(work)

    async def idempotency_result(self, key: str) -> IdempotencyState | None:
        row = await self.db.fetchone("SELECT status, result FROM idempotency_keys WHERE key = ?",
                                     (key,))
        return IdempotencyState(row["status"], row["result"]) if row else None

    async def complete_idempotency_key(self, key: str, result: str) -> None:
        await self.db.execute(
            "UPDATE idempotency_keys SET status = 'done', result = ? WHERE key = ?", (result, key))

    async def release_idempotency_key(self, key: str) -> None:
        """Forget a claim whose action failed, so a corrected retry can run."""
        await self.db.execute(
            "DELETE FROM idempotency_keys WHERE key = ? AND status = 'in_progress'", (key,))
