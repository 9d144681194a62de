"""At-least-once webhook delivery from the outbox table, with retries and backoff.

The worker's main process runs `run_delivery` (agent/worker.py) next to the AgentServer: it
polls the outbox, leases each due row, POSTs the stored body signed afresh (signing.py) and
records the answer. A 2xx is delivered; anything else (an error status, a redirect, a refused
connection, a timeout) is retried after an exponential backoff (2 s, 4 s, 8 s, ... up to
10 min, ±20 % jitter) until WEBHOOK_MAX_ATTEMPTS, then marked `failed` and logged. Rows live in
the database, so a restarted worker carries on where the last one stopped; the lease keeps
two workers from sending the same row at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from urllib.parse import urlparse

import aiohttp

from ..config import Settings
from ..data.repository import Repository, WebhookDelivery
from .signing import signed_headers

logger = logging.getLogger("phone-agent.webhooks")


@dataclass(frozen=True)
class Backoff:
    base_s: float = 2.0
    cap_s: float = 600.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        raw = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)


def _where(url: str) -> str:
    """The URL without query or credentials, for logs."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname}{f':{parsed.port}' if parsed.port else ''}" \
           f"{parsed.path}"


class Deliverer:
    def __init__(self, repo: Repository, secret: str, *, max_attempts: int,
                 backoff: Backoff | None = None, timeout_s: float = 10.0,
                 concurrency: int = 4) -> None:
        self._repo = repo
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._slots = asyncio.Semaphore(concurrency)
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def deliver_due(self, limit: int = 50) -> int:
        """One pass over the due rows; returns how many were delivered."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        rows = await self._repo.due_webhooks(limit=limit)
        results = await asyncio.gather(*(self._attempt(row) for row in rows))
        return sum(results)

    async def _attempt(self, row: WebhookDelivery) -> bool:
        async with self._slots:
            lease_s = self._timeout.total or 10.0
            if not await self._repo.lease_webhook(row.id, for_s=lease_s + 30):
                return False  # another worker has it
            attempt = row.attempts + 1
            body = row.payload.encode()
            assert self._http is not None
            try:
                async with self._http.post(row.url, data=body, allow_redirects=False,
                                           headers=signed_headers(self._secret, row.event_id,
                                                                  body)) as resp:
                    if 200 <= resp.status < 300:
                        await self._repo.webhook_delivered(row.id)
                        logger.info("webhook delivered", extra={
                            "event": row.event_type, "event_id": row.event_id,
                            "url": _where(row.url), "attempt": attempt})
                        return True
                    error = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
            give_up = attempt >= self._max_attempts
            retry_after = None if give_up else self._backoff.delay(attempt)
            await self._repo.webhook_attempt_failed(row.id, error=error,
                                                    retry_after_s=retry_after)
            log = logger.error if give_up else logger.warning
            log("webhook %s", "delivery failed for good" if give_up else "delivery failed",
                extra={"event": row.event_type, "event_id": row.event_id,
                       "url": _where(row.url), "attempt": attempt, "error": error,
                       "retry_in_s": None if retry_after is None else round(retry_after, 1)})
            return False

    async def run(self, *, poll_s: float = 1.0, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        idle = poll_s
        while not stop.is_set():
            try:
                await self.deliver_due()
                idle = poll_s
            except Exception:
                # e.g. the database is briefly unreachable: wait longer, keep going
                logger.exception("webhook delivery pass failed")
                idle = min(idle * 2, 30.0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=idle)
            except TimeoutError:
                pass


async def run_delivery(settings: Settings) -> None:
    """The worker's delivery loop (started by agent/worker.py when WEBHOOK_URLS is set)."""
    repo = await Repository.open(settings.database_url)
    deliverer = Deliverer(repo, settings.webhook_secret or "",
                          max_attempts=settings.webhook_max_attempts)
    logger.info("webhook delivery started", extra={"urls": len(settings.webhook_urls)})
    try:
        await deliverer.run()
    finally:
        await deliverer.close()
        await repo.close()
