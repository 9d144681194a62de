"""The call record: one `calls` row per call and its `call_events` (redacted transcript lines,
transfer and outbound outcomes, provider errors). `agent/observability/calls.py` writes them
while the call runs; the outbound CLI, `make call` and the SIP tests read them back."""

from __future__ import annotations

import json
from typing import Any

from .records import CallEvent, CallRecord, call_event, call_record
from .sql import utc_now
from .store import Store


class CallLog(Store):
    async def start_call(self, *, call_uid: str, room: str, channel: str, direction: str,
                         caller_masked: str | None, sip_call_id: str | None,
                         caller_key: str | None = None) -> None:
        """`caller_key`: the keyed hash of the caller's number (`phones.caller_key`)."""
        await self.db.execute(
            "INSERT INTO calls (call_uid, room, channel, direction, caller_masked, sip_call_id,"
            " started_at, caller_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (call_uid) DO NOTHING",
            (call_uid, room, channel, direction, caller_masked, sip_call_id, utc_now(),
             caller_key),
        )

    async def add_transcript_line(self, *, call_uid: str, role: str, text: str,
                                  metrics: dict[str, float], interrupted: bool) -> None:
        """One line of the (already redacted) transcript, with its latency metrics."""
        detail = json.dumps({"metrics": metrics, "interrupted": interrupted})
        await self.db.execute(
            "INSERT INTO call_events (call_uid, at, kind, role, text, detail)"
            " VALUES (?, ?, 'transcript', ?, ?, ?)",
            (call_uid, utc_now(), role, text, detail),
        )

    async def add_call_event(self, *, call_uid: str, kind: str, detail: str) -> None:
        await self.db.execute(
            "INSERT INTO call_events (call_uid, at, kind, detail) VALUES (?, ?, ?, ?)",
            (call_uid, utc_now(), kind, detail),
        )

    async def finish_call(self, *, call_uid: str, ended_by: str | None, reason: str,
                          duration_s: float) -> None:
        """Close the record; `ended_by` is an `EndedBy` value (a str), None if never set."""
        # str(): a StrEnum is stored by value; drivers may otherwise adapt an Enum by name.
        await self.db.execute(
            "UPDATE calls SET ended_at = ?, ended_by = ?, end_reason = ?, duration_s = ?"
            " WHERE call_uid = ?",
            (utc_now(), None if ended_by is None else str(ended_by), reason, duration_s,
             call_uid),
        )

    async def set_recording(self, call_uid: str, *, consent: str, status: str,
                            uri: str | None = None, duration_s: float | None = None,
                            sha256: str | None = None, error: str | None = None) -> None:
        """The caller's recording choice and what became of the audio (stored/failed/none)."""
        await self.db.execute(
            "UPDATE calls SET recording_consent = ?, recording_status = ?, recording_uri = ?,"
            " recording_duration_s = ?, recording_sha256 = ?, recording_error = ?"
            " WHERE call_uid = ?",
            (consent, status, uri, duration_s, sha256, error, call_uid),
        )

    async def set_outcome(self, call_uid: str, *, status: str, summary: str | None,
                          outcome: dict[str, Any] | None) -> None:
        """The after-call analysis: status ok | unavailable | off."""
        await self.db.execute(
            "UPDATE calls SET outcome_status = ?, summary = ?, outcome = ? WHERE call_uid = ?",
            (status, summary, json.dumps(outcome) if outcome is not None else None, call_uid),
        )

    async def call(self, call_uid: str) -> CallRecord | None:
        row = await self.db.fetchone("SELECT * FROM calls WHERE call_uid = ?", (call_uid,))
        return call_record(row) if row else None

    async def recent_calls(self, limit: int = 20) -> list[CallRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))
        return [call_record(r) for r in rows]

    async def calls_between(self, start: str, end: str) -> list[CallRecord]:
        """Calls started in [start, end) (ISO-8601 UTC, as `utc_now()` writes them)."""
        rows = await self.db.fetchall(
            "SELECT * FROM calls WHERE started_at >= ? AND started_at < ? ORDER BY started_at",
            (start, end))
        return [call_record(r) for r in rows]

    async def events_of_calls_between(self, start: str, end: str) -> list[CallEvent]:
        """Every event of the calls started in [start, end), in the order written."""
        rows = await self.db.fetchall(
            "SELECT e.* FROM call_events e JOIN calls c ON c.call_uid = e.call_uid"
            " WHERE c.started_at >= ? AND c.started_at < ? ORDER BY e.id", (start, end))
        return [call_event(r) for r in rows]

    async def call_events(self, call_uid: str, kind: str | None = None) -> list[CallEvent]:
        sql, params = "SELECT * FROM call_events WHERE call_uid = ?", [call_uid]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = await self.db.fetchall(sql + " ORDER BY id", params)
        return [call_event(r) for r in rows]
