"""Keep personal data and secrets out of transcripts, audit records and logs.

``redact(text)`` replaces personal data with typed tags:

========== ================================================================================
``[PHONE …0100]``  phone numbers (+E.164, North American formats, 555-0100); the last four
                   digits are kept so support staff can match a call (``agent.phones.mask_phone``)
``[CARD]``         payment cards: 13-19 digits (spaces/dashes allowed), Luhn-valid, starting
                   with 2-6 (every issuer range) -- timestamps and most ids start elsewhere
``[EMAIL]``        email addresses (``sip:`` URIs are left alone, their digits are not)
``[SSN]``          US social security numbers (123-45-6789, or 9 digits, or the last four,
                   when labelled)
``[DOB]``          a date after "born (on)", "date of birth", "DOB", "birthday"; any full
                   date ten or more years back
``[IBAN]``         IBANs that pass the ISO 13616 mod-97 check
``[PIN]``          digits after "pin", "passcode", "security code", "CVV", "OTP", ...
``[ADDRESS]``      street addresses: a house number, up to three words and a street type
                   ("421 Elm Street", "42 Elm St, apt 4B"), and P.O. boxes
``[NUMBER]``       any other long number read out digit by digit (seven digits or more)
``[SECRET]``       API keys and tokens (``sk-…``, JWTs, ``Bearer …``, ``api_key=…``,
                   AWS/GitHub/Slack/LiveKit key shapes, "password is …") and any string
                   registered with a :class:`SecretScrubber`, whatever its length
========== ================================================================================

Phone transcripts spell numbers as words (Deepgram runs with ``smart_format=False``): "four
one five five five five zero one four two", "my pin is twenty four sixty eight", "born on the
fourteenth of March nineteen eighty-five", "john dot doe at gmail dot com". Every rule sees
those as digits (``spoken_numbers``), so spoken and written forms are caught alike. A full
date ten or more years back is taken for a date of birth even without a label. With
``context`` (the agent's line before a caller's answer), a bare answer to "What's your PIN?"
("2468") or to "your date of birth?" is redacted as what was asked for.

Deliberately *not* redacted, because support needs them to debug: order / ticket / booking /
slot ids ("A12345", "order 48213", even a 10-digit "order 4155550100"), prices, times,
appointment dates, and names (names cannot be found reliably by pattern).
``tests/unit/fixtures/pii_corpus.py`` measures both sides: what must go and what must stay.

Logs: ``install_log_redaction(secrets)`` makes every log record from every logger clean
before any handler or formatter sees it (see :func:`install_log_redaction` for how); values
LiveKit marks as personal (``lk.pii.*`` extras) are replaced whole.

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
