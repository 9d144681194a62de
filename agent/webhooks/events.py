"""Call events as webhook payloads, queued in the durable outbox (never sent from the call).

    {"id": "evt_…", "type": "call.ended", "created_at": "2026-…Z", "call_uid": "…",
     "data": {…}}

`id` is unique per event and the same on every retry: receivers deduplicate on it. A payload
holds only what the call record holds, already redacted: the caller appears masked
(`…0142`); room names and SIP ids (which can contain the number) are left out.

Queuing is one INSERT on the worker's database thread, spawned in the background: a slow or
broken database costs the call nothing (the failure is logged), and the HTTP delivery happens
elsewhere (delivery.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from ..data.repository import CallRecord, RepoSource, current_repo

logger = logging.getLogger("phone-agent.webhooks")

CALL_STARTED = "call.started"
CALL_ENDED = "call.ended"
CALL_TRANSFERRED = "call.transferred"
RECORDING_READY = "recording.ready"
EVENT_TYPES = (CALL_STARTED, CALL_ENDED, CALL_TRANSFERRED, RECORDING_READY)

# Call-record columns a receiver gets (see the module docstring for what is left out).
_CALL_FIELDS = ("call_uid", "channel", "direction", "caller_masked", "started_at", "ended_at",
                "ended_by", "end_reason", "duration_s", "recording_consent")


def call_fields(record: CallRecord | None) -> dict[str, Any]:
    row: dict[str, Any] = dict(record) if record is not None else {}
    return {k: row.get(k) for k in _CALL_FIELDS}


def payload(event_type: str, call_uid: str | None, data: dict[str, Any],
            event_id: str | None = None) -> tuple[str, str]:
    """(event id, the exact JSON body that is stored, signed and sent)."""
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    body = {"id": event_id, "type": event_type,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "call_uid": call_uid, "data": data}
    return event_id, json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


class Webhooks:
    """Queues one call's events for every WEBHOOK_URLS entry."""

    def __init__(self, repo: RepoSource, urls: Sequence[str], call_uid: str) -> None:
        self._repo = repo
        self._urls = tuple(urls)
        self._call_uid = call_uid
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self._urls)

    async def emit(self, event_type: str, data: dict[str, Any]) -> str | None:
        """Queue the event now; returns its id (None when no URL is configured, or while the
        database is unavailable: that is logged)."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event {event_type!r}")
        if not self._urls:
            return None
        repo = current_repo(self._repo)
        if repo is None:
            logger.warning("%s webhook not queued: the database is unavailable", event_type,
                           extra={"call": self._call_uid})
            return None
        event_id, body = payload(event_type, self._call_uid, data)
        await repo.enqueue_webhook(event_id=event_id, event_type=event_type,
                                   call_uid=self._call_uid, urls=self._urls, payload=body)
        return event_id

    def spawn(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue in the background (from event handlers of the live call)."""
        if not self._urls:
            return
        task = asyncio.ensure_future(self._logged(self.emit(event_type, data), event_type))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _logged(self, coro: Coroutine[Any, Any, str | None], event_type: str) -> None:
        try:
            await coro
        except Exception:
            logger.exception("could not queue the %s webhook", event_type,
                             extra={"call": self._call_uid})

    async def flush(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
