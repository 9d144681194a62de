"""SMS through the outbox: tools queue messages, a relay hands them to a provider.

A tool writes the exact text to the `outbox` table (`Repository.enqueue_sms_in`) inside the
transaction that records the caller's confirmed action, so a message is queued if and only if
the caller was told it would be, and exactly once per idempotency key. `relay_outbox` hands
pending rows to a real gateway implementing `SmsProvider` (pass the idempotency key on as the
provider's deduplication key, so a relay retried after a crash never sends twice).
"""

from __future__ import annotations

import logging
from typing import Protocol

from .repository import Repository

logger = logging.getLogger("phone-agent.sms")

MAX_SMS_CHARS = 480  # three concatenated GSM segments


class SmsProvider(Protocol):
    """A real gateway (Twilio, Vonage, ...). Returns the provider's message id."""

    async def deliver(self, *, to: str, body: str, idempotency_key: str) -> str: ...


async def relay_outbox(repo: Repository, provider: SmsProvider) -> int:
    """Deliver every pending outbox message through `provider`; returns how many were sent."""
    sent = 0
    for message in await repo.outbox(status="pending"):
        try:
            provider_id = await provider.deliver(to=message.recipient, body=message.body,
                                                 idempotency_key=message.idempotency_key)
        except Exception:
            logger.exception("SMS delivery failed for outbox message %d", message.id)
            continue
        await repo.mark_outbox_sent(message.id, provider_id)
        sent += 1
    return sent
