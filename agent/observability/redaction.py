"""Keep personal data and secrets out of transcripts, audit records and logs.

``redact(text)`` replaces personal data with typed tags:

========== ================================================================================
``[PHONE …0100]``  phone numbers (+E.164, North American formats, 555-0100); the last four
                   digits are kept so support staff can match a call (``agent.phones.mask_phone``)
``[CARD]``         payment cards: 13-19 digits (spaces/dashes allowed), Luhn-valid, starting
                   with 2-6 (every issuer range) -- timestamps and most ids start elsewhere
``[EMAIL]``        email addresses (``sip:`` URIs are left alone, their digits are not)
``[SSN]``          US social security numbers (123-45-6789, or 9 digits when labelled)
``[DOB]``          a date after "born (on)", "date of birth", "DOB", "birthday"
``[IBAN]``         IBANs that pass the ISO 13616 mod-97 check
``[PIN]``          digits after "pin", "passcode", "security code", "CVV", "OTP", ...
``[SECRET]``       API keys and tokens (``sk-…``, JWTs, ``Bearer …``, ``api_key=…``,
                   AWS/GitHub/Slack/LiveKit key shapes, "password is …") and any string
                   registered with a :class:`SecretScrubber`
========== ================================================================================

Digits spoken as words ("four one five five five five ...") are recognised for phones and
cards, since that is how numbers often appear in phone-call transcripts.

Deliberately *not* redacted, because support needs them to debug: order / ticket / booking
ids ("A12345", "order 48213", even a 10-digit "order 4155550100"), prices, times, ordinary
dates, addresses and names (names cannot be found reliably by pattern).

Logs: ``install_log_redaction(secrets)`` makes every log record from every logger clean
before any handler or formatter sees it (see :func:`install_log_redaction` for how).

This module is the public face; the work is split by concern: ``secret_scrubber`` (secrets),
``pii`` (personal data), ``text_redaction`` (``redact``/``redact_value``) and
``log_redaction`` (the logging hooks).
"""

from __future__ import annotations

from .log_redaction import RedactingFilter, install_log_redaction, uninstall_log_redaction
from .pii import luhn_valid
from .secret_scrubber import DEFAULT_SCRUBBER, SecretScrubber
from .text_redaction import redact, redact_value

__all__ = [
    "DEFAULT_SCRUBBER",
    "RedactingFilter",
    "SecretScrubber",
    "install_log_redaction",
    "luhn_valid",
    "redact",
    "redact_value",
    "uninstall_log_redaction",
]
