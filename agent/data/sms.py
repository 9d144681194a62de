"""SMS behind one sender interface.

Tools call `SmsSender.send(...)`. The default `OutboxSender` writes the exact text to the
`outbox` table (exactly once per idempotency key); a relay (`relay_outbox`) hands pending rows
to a real provider implementing `SmsProvider`. To plug a provider in, either run the relay with
it, or implement `SmsSender` directly (keep the idempotency key: pass it to the provider as its
deduplication key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .repository import Repository

logger = logging.getLogger("phone-agent.sms")

MAX_SMS_CHARS = 480  # three concatenated GSM segments


@dataclass(frozen=True)
class SmsReceipt:
    message_id: str
    status: str  # "pending" (queued) | "sent" | "failed"
    duplicate: bool  # True when this idempotency key was already used: nothing new was sent


@runtime_checkable
class SmsSender(Protocol):
    async def send(self, *, to: str, body: str, idempotency_key: str,
                   customer_id: int | None = None) -> SmsReceipt: ...


class SmsProvider(Protocol):
    """A real gateway (Twilio, Vonage, ...). Returns the provider's message id."""

    async def deliver(self, *, to: str, body: str, idempotency_key: str) -> str: ...


class OutboxSender:
    """The default sender: queue the message in the outbox table; never sends twice."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    async def send(self, *, to: str, body: str, idempotency_key: str,
                   customer_id: int | None = None) -> SmsReceipt:
        if not body or len(body) > MAX_SMS_CHARS:
            raise ValueError("SMS body must be 1-480 characters")
        message, created = await self.repo.enqueue_sms(
            recipient=to, body=body, idempotency_key=idempotency_key, customer_id=customer_id)
        return SmsReceipt(message_id=str(message.id), status=message.status,
                          duplicate=not created)


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
