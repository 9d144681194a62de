"""`redact()` for text and `redact_value()` for JSON-like structures: secrets first, then
personal data (the tags are listed in `agent.observability.redaction`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .pii import redact_pii
from .secret_scrubber import SECRET_TAG, SecretScrubber, redact_secrets


def redact(text: str, scrubber: SecretScrubber | None = None, *,
           context: str | None = None) -> str:
    """Replace personal data and secrets in ``text`` with typed tags.

    ``scrubber`` defaults to :data:`DEFAULT_SCRUBBER`, which holds the secrets registered
    by :func:`install_log_redaction`. ``context``: the agent's line before ``text`` when
    ``text`` is the caller's answer (after "What's your PIN?", a bare "2468" is a PIN).
    """
    if not text or not isinstance(text, str):
        return text
    return redact_pii(redact_secrets(text, scrubber), context=context)


# Mapping keys whose whole value is sensitive, whatever it looks like.
_SENSITIVE_KEY_RE = re.compile(
    r"(?i)(?:^|[_-])(?:api[_-]?key|apikey|secret|token|password|passwd|authorization|cookie"
    r"|private[_-]?key|access[_-]?key|pin|passcode|cvv|cvc|ssn|card[_-]?number|pan)$"
)
_PIN_KEY_RE = re.compile(r"(?i)pin|passcode|cvv|cvc")


def redact_value(obj: object, scrubber: SecretScrubber | None = None) -> object:
    """Redact every string in a JSON-like structure (dicts, lists, tuples, sets), returning
    a new structure (any mapping comes back as a dict). Values under keys such as
    ``api_key``/``password``/``pin`` are replaced entirely. Other objects are returned
    unchanged."""
    if isinstance(obj, str):
        return redact(obj, scrubber)
    if isinstance(obj, Mapping):
        out: dict[object, object] = {}
        for key, value in obj.items():
            clean_key = redact(key, scrubber) if isinstance(key, str) else key
            if (
                isinstance(key, str)
                and _SENSITIVE_KEY_RE.search(key)
                and isinstance(value, str | int)
                and not isinstance(value, bool)
                and value != ""
            ):
                out[clean_key] = "[PIN]" if _PIN_KEY_RE.search(key) else SECRET_TAG
            else:
                out[clean_key] = redact_value(value, scrubber)
        return out
    if isinstance(obj, list):
        return [redact_value(v, scrubber) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_value(v, scrubber) for v in obj)
    if isinstance(obj, set | frozenset):
        return type(obj)(redact_value(v, scrubber) for v in obj)
    return obj
