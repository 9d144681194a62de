"""The webhook signature scheme (README: "Webhooks").

Every request carries

    X-PhoneAgent-Event-Id:   evt_...                 (also the payload's "id": the idempotency key)
    X-PhoneAgent-Timestamp:  1767225600              (Unix seconds when this attempt was signed)
    X-PhoneAgent-Signature:  v1=<hex HMAC-SHA256(WEBHOOK_SECRET, "<timestamp>." + raw body)>

A receiver recomputes the HMAC over the timestamp and the raw body bytes exactly as received,
compares in constant time, and rejects a timestamp more than `TOLERANCE_S` away from its clock
(a replayed old request). Several `v1=` values, comma-separated, may appear while a secret is
being rotated; one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

HEADER_EVENT_ID = "X-PhoneAgent-Event-Id"
HEADER_TIMESTAMP = "X-PhoneAgent-Timestamp"
HEADER_SIGNATURE = "X-PhoneAgent-Signature"
SCHEME = "v1"
TOLERANCE_S = 300


class SignatureError(Exception):
    """The request is unsigned, wrongly signed or stale; `str()` says which."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(secret: str, event_id: str, body: bytes,
                   now: float | None = None) -> dict[str, str]:
    """The headers of one delivery attempt, signed at `now`."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        HEADER_EVENT_ID: event_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: signature(secret, timestamp, body),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, *,
           now: float | None = None, tolerance_s: float = TOLERANCE_S) -> int:
    """Check a received request; returns its timestamp, raises `SignatureError`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ts = lowered.get(HEADER_TIMESTAMP.lower(), "")
    given = lowered.get(HEADER_SIGNATURE.lower(), "")
    if not raw_ts or not given:
        raise SignatureError("unsigned request")
    if not raw_ts.isdigit():
        raise SignatureError("malformed timestamp")
    timestamp = int(raw_ts)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise SignatureError("stale timestamp")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, part.strip()) for part in given.split(",")):
        raise SignatureError("signature mismatch")
    return timestamp
