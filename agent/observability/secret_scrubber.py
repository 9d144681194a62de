"""Secrets out of text: strings registered with a `SecretScrubber`, and key/token shapes.

`redact_secrets` is the secret half of `redact()` (see `agent.observability.redaction`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

SECRET_TAG = "[SECRET]"


class SecretScrubber:
    """Removes known secret strings (API keys, tokens, passwords) from text, replacing them
    with ``[SECRET]``. URL-encoded forms of each secret are removed too.

    Every registered secret is scrubbed, whatever its length (a LiveKit dev key is "devkey").
    A secret shorter than ``BOUNDED_BELOW`` characters is matched only where it stands on its
    own (not inside a longer word or number), so a short password like "pass" does not eat
    "passenger"; longer ones are matched anywhere."""

    TAG = SECRET_TAG
    BOUNDED_BELOW = 8

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register more secrets (``None`` and empty values are skipped)."""
        with self._lock:
            for secret in secrets:
                if not isinstance(secret, str):
                    continue
                secret = secret.strip()
                if not secret:
                    continue
                self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})
            if self._secrets:
                alternatives = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(_alternative(s) for s in alternatives))

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def __len__(self) -> int:
        return len(self._secrets)

    def __contains__(self, secret: object) -> bool:
        return secret in self._secrets

    def scrub(self, text: str) -> str:
        pattern = self._pattern  # read once: add() may swap it from another thread
        if pattern is None or not text:
            return text
        return pattern.sub(self.TAG, text)

    def __repr__(self) -> str:  # never show the secrets themselves
        return f"SecretScrubber({len(self._secrets)} secrets)"


def _alternative(secret: str) -> str:
    escaped = re.escape(secret)
    if len(secret) >= SecretScrubber.BOUNDED_BELOW:
        return escaped
    return rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"


# Secrets registered by install_log_redaction(); redact() always applies them.
DEFAULT_SCRUBBER = SecretScrubber()


def _keep_label(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{SECRET_TAG}"


_SECRET_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # provider keys: OpenAI/DeepSeek "sk-…", ElevenLabs "sk_…", Stripe "sk_live_…", "pk_…"
    (re.compile(r"(?<![\w-])(?:sk|pk|rk)[-_](?:live[-_]|test[-_]|proj[-_])?[A-Za-z0-9_-]{16,}"),
     SECRET_TAG),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), SECRET_TAG),  # AWS access key id
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), SECRET_TAG),  # GitHub
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), SECRET_TAG),  # Slack
    (re.compile(r"\bAPI[A-Za-z0-9]{12}\b"), SECRET_TAG),  # LiveKit API key
    # JWTs (LiveKit access tokens, OAuth tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), SECRET_TAG),
    # Authorization headers
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9._~+/=-]{16,}"), _keep_label),
    # labelled values: api_key=…, "token": "…", secret: …, password=…
    (re.compile(
        r"(?i)\b((?:[\w-]*[_-])?(?:api[_-]?key|apikey|api[_-]?secret|secret|token|password|passwd"
        r"|access[_-]?key|private[_-]?key|authorization|auth|key))"
        r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"',;&}]{8,})"),
     _keep_label),
    (re.compile(r"(?i)\b(password|passphrase)(\s+(?:is|was)\s+|:\s*)(\S+?)(?=[\s.,;!?]*(?:\s|$))"),
     _keep_label),
]  # fmt: skip


def redact_secrets(text: str, scrubber: SecretScrubber | None = None) -> str:
    """Replace registered secrets (``scrubber`` and :data:`DEFAULT_SCRUBBER`) and anything
    shaped like a key or token with ``[SECRET]``."""
    if scrubber is not None and scrubber is not DEFAULT_SCRUBBER:
        text = scrubber.scrub(text)
    text = DEFAULT_SCRUBBER.scrub(text)
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text
