"""Keep personal data and secrets out of transcripts, audit records and logs.

``redact(text)`` replaces personal data with typed tags:

========== ================================================================================
``[PHONE …0100]``  phone numbers (+E.164, North American formats, 555-0100); the last four
                   digits are kept so support staff can match a call
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
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

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

# --------------------------------------------------------------------------- secrets


class SecretScrubber:
    """Removes known secret strings (API keys, tokens) from text, replacing them with
    ``[SECRET]``. URL-encoded forms of each secret are removed too. Strings shorter than
    ``min_length`` are ignored: scrubbing "abc" everywhere would wreck the logs and such a
    string is no real secret."""

    TAG = "[SECRET]"

    def __init__(self, secrets: Iterable[str | None] = (), *, min_length: int = 8) -> None:
        self._min_length = min_length
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register more secrets (``None``/empty/short values are skipped)."""
        with self._lock:
            for secret in secrets:
                if not isinstance(secret, str):
                    continue
                secret = secret.strip()
                if len(secret) < self._min_length:
                    continue
                self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})
            if self._secrets:
                alternatives = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

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


# Secrets registered by install_log_redaction(); redact() always applies them.
DEFAULT_SCRUBBER = SecretScrubber()

_SECRET_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # provider keys: OpenAI/DeepSeek "sk-…", ElevenLabs "sk_…", Stripe "sk_live_…", "pk_…"
    (re.compile(r"(?<![\w-])(?:sk|pk|rk)[-_](?:live[-_]|test[-_]|proj[-_])?[A-Za-z0-9_-]{16,}"),
     "[SECRET]"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "[SECRET]"),  # AWS access key id
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), "[SECRET]"),  # GitHub
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "[SECRET]"),  # Slack
    (re.compile(r"\bAPI[A-Za-z0-9]{12}\b"), "[SECRET]"),  # LiveKit API key
    # JWTs (LiveKit access tokens, OAuth tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "[SECRET]"),
    # Authorization headers
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9._~+/=-]{16,}"),
     lambda m: f"{m.group(1)}{m.group(2)}[SECRET]"),
    # labelled values: api_key=…, "token": "…", secret: …, password=…
    (re.compile(
        r"(?i)\b((?:[\w-]*[_-])?(?:api[_-]?key|apikey|api[_-]?secret|secret|token|password|passwd"
        r"|access[_-]?key|private[_-]?key|authorization|auth|key))"
        r"(\"?'?\s*[:=]\s*\"?'?)([^\s\"',;&}]{8,})"),
     lambda m: f"{m.group(1)}{m.group(2)}[SECRET]"),
    (re.compile(r"(?i)\b(password|passphrase)(\s+(?:is|was)\s+|:\s*)(\S+?)(?=[\s.,;!?]*(?:\s|$))"),
     lambda m: f"{m.group(1)}{m.group(2)}[SECRET]"),
]  # fmt: skip

# --------------------------------------------------------------------------- helpers


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _iban_valid(iban: str) -> bool:
    iban = iban.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _phone_tag(digits: str) -> str:
    return f"[PHONE …{digits[-4:]}]"


_ID_CONTEXT_RE = re.compile(
    r"(?i)\b(?:order|ticket|booking|confirmation|reference|ref|invoice|tracking|case"
    r"|reservation|claim|transaction|receipt)"
    r"(?:\s+(?:number|no\.?|num|id|code))?(?:\s+is)?\s*[#:]?\s*(?:(?-i:[A-Z]{1,3})[\s-]*)?$"
)


def _is_id_context(text: str, start: int) -> bool:
    """True when the number at ``start`` follows "order", "ticket #", ... (an id, not PII)."""
    return _ID_CONTEXT_RE.search(text[max(0, start - 40) : start]) is not None


# --------------------------------------------------------------------------- PII patterns

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_DW = "(?:" + "|".join(_DIGIT_WORDS) + ")"
_SPOKEN_DIGITS_RE = re.compile(rf"(?i)\b{_DW}(?:[\s,-]+{_DW}){{6,}}\b")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?"
    r"|(?:19|20)\d{2})"
)
_DOB_RE = re.compile(
    r"(?i)\b(born(?:\s+(?:on|in))?|date\s+of\s+birth|d\.?o\.?b\.?|birth\s*date|birthday)"
    rf"(\s*(?:is|was|:|-|=)?\s*)({_DATE})(?![\w/-])"
)
_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])(?<!sip:)(?<!sips:)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,}\b"
)
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,22}(?![\w-])")
_SSN_RE = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_SSN_LABELLED_RE = re.compile(
    r"(?i)\b(ssn|social\s+security(?:\s+number)?|social)((?:\s+(?:number|no\.?|#))?"
    r"(?:\s+is|:)?\s*)(\d{9}|\d{3}[- ]\d{2}[- ]\d{4})(?!\d)"
)
_PIN_RE = re.compile(
    r"(?i)\b(pin(?:\s+(?:code|number))?|passcode|pass\s+code|security\s+code|cvv2?|cvc"
    r"|verification\s+code|access\s+code|one[- ]time\s+(?:code|password)|otp)"
    rf"(\s*(?:is|was|:|=|#)?\s*)(\d{{3,8}}|{_DW}(?:[\s,-]+{_DW}){{2,7}})(?![\w])"
)
_INTL_PHONE_RE = re.compile(r"(?<![\w+])\+\d[\d .()-]{6,20}\d(?![\w])")
_NANP_PHONE_RE = re.compile(
    r"(?<![\w+.-])(?:1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}(?![\w-]|\.\d)"
)
_LOCAL_PHONE_RE = re.compile(r"(?<![\w+.$,/-])\d{3}-\d{4}(?![\w-]|\.\d)")


def _card_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    groups = re.split(r"[ -]", raw)
    # the run may swallow a neighbouring number ("4111 1111 1111 1111 12/27"): try the
    # longest run of groups that is a card
    for size in range(len(groups), 0, -1):
        for start in range(len(groups) - size + 1):
            if _is_card("".join(groups[start : start + size])):
                before = " ".join(groups[:start])
                after = " ".join(groups[start + size :])
                return " ".join(p for p in (before, "[CARD]", after) if p)
    return raw


def _intl_phone_sub(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    if not 8 <= len(digits) <= 15:
        return m.group(0)
    return _phone_tag(digits)


def _nanp_phone_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    digits = re.sub(r"\D", "", raw)
    if raw.isdigit() and not re.fullmatch(r"1?[2-9]\d{2}[2-9]\d{6}", digits):
        return raw  # an unformatted 10-digit run that is no valid NANP number
    if _is_id_context(m.string, m.start()):
        return raw
    return _phone_tag(digits)


def _local_phone_sub(m: re.Match[str]) -> str:
    if _is_id_context(m.string, m.start()):
        return m.group(0)
    return _phone_tag(m.group(0))


def _spoken_digits_sub(m: re.Match[str]) -> str:
    digits = "".join(_DIGIT_WORDS[w.lower()] for w in re.findall(r"[A-Za-z]+", m.group(0)))
    if _is_card(digits):
        return "[CARD]"
    if len(digits) in (7, 10, 11) and not _is_id_context(m.string, m.start()):
        return _phone_tag(digits)
    return m.group(0)


_PII_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (_DOB_RE, lambda m: f"{m.group(1)}{m.group(2)}[DOB]"),
    (_SSN_LABELLED_RE, lambda m: f"{m.group(1)}{m.group(2)}[SSN]"),
    (_PIN_RE, lambda m: f"{m.group(1)}{m.group(2)}[PIN]"),
    (_IBAN_RE, lambda m: "[IBAN]" if _iban_valid(m.group(0)) else m.group(0)),
    (_CARD_RE, _card_sub),
    (_SSN_RE, "[SSN]"),
    (_INTL_PHONE_RE, _intl_phone_sub),
    (_NANP_PHONE_RE, _nanp_phone_sub),
    (_LOCAL_PHONE_RE, _local_phone_sub),
    (_EMAIL_RE, "[EMAIL]"),
    (_SPOKEN_DIGITS_RE, _spoken_digits_sub),
]


def redact(text: str, scrubber: SecretScrubber | None = None) -> str:
    """Replace personal data and secrets in ``text`` with typed tags (see module doc).

    ``scrubber`` defaults to :data:`DEFAULT_SCRUBBER`, which holds the secrets registered
    by :func:`install_log_redaction`.
    """
    if not text or not isinstance(text, str):
        return text
    if scrubber is not None and scrubber is not DEFAULT_SCRUBBER:
        text = scrubber.scrub(text)
    text = DEFAULT_SCRUBBER.scrub(text)
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    for pattern, repl in _PII_RULES:
        text = pattern.sub(repl, text)
    return text


# Mapping keys whose whole value is sensitive, whatever it looks like.
_SENSITIVE_KEY_RE = re.compile(
    r"(?i)(?:^|[_-])(?:api[_-]?key|apikey|secret|token|password|passwd|authorization|cookie"
    r"|private[_-]?key|access[_-]?key|pin|passcode|cvv|cvc|ssn|card[_-]?number|pan)$"
)


def redact_value(obj: Any, scrubber: SecretScrubber | None = None) -> Any:
    """Redact every string in a JSON-like structure (dicts, lists, tuples, sets), returning
    a new structure. Values under keys such as ``api_key``/``password``/``pin`` are replaced
    entirely. Other objects are returned unchanged."""
    if isinstance(obj, str):
        return redact(obj, scrubber)
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            clean_key = redact(key, scrubber) if isinstance(key, str) else key
            if (
                isinstance(key, str)
                and _SENSITIVE_KEY_RE.search(key)
                and isinstance(value, str | int)
                and not isinstance(value, bool)
                and value != ""
            ):
                is_pin = re.search(r"(?i)pin|passcode|cvv|cvc", key)
                out[clean_key] = "[PIN]" if is_pin else "[SECRET]"
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


# --------------------------------------------------------------------------- logging

# Attributes every LogRecord has; anything else in record.__dict__ came from ``extra=``.
_STANDARD_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _clean_record(record: logging.LogRecord, scrubber: SecretScrubber | None) -> None:
    """Redact a record in place: message (with its args), extras, exception and stack."""
    msg, args = record.msg, record.args
    if isinstance(msg, Mapping) and not args:
        record.msg = redact_value(msg, scrubber)  # structured message (JSON formatters)
    else:
        try:
            text = record.getMessage()
        except Exception:
            # bad format args: logging reports the failure at emit time, with these values
            record.msg = redact(str(msg), scrubber)
            arg_tuple = args if isinstance(args, tuple) else (args,)
            record.args = tuple(redact(str(a), scrubber) for a in arg_tuple)
        else:
            record.msg = redact(text, scrubber)
            record.args = None
    for key, value in list(record.__dict__.items()):
        if key in _STANDARD_RECORD_ATTRS:
            continue
        dict.__setitem__(record.__dict__, key, redact_value(value, scrubber))
    if record.exc_info and record.exc_info != (None, None, None):
        # Format once, clean, and drop the live exception: some formatters (LiveKit's JSON
        # one) re-format exc_info themselves and would bypass the cleaned exc_text.
        record.exc_text = redact(
            "".join(traceback.format_exception(*record.exc_info)).rstrip(), scrubber
        )
        record.exc_info = None
    elif isinstance(record.exc_text, str):
        record.exc_text = redact(record.exc_text, scrubber)
    if isinstance(record.stack_info, str):
        record.stack_info = redact(record.stack_info, scrubber)


class RedactingFilter(logging.Filter):
    """A logging filter that cleans each record (message, ``%s`` args, ``extra=`` fields,
    exception text) of personal data and secrets. It never drops a record.

    ``scrubber`` defaults to :data:`DEFAULT_SCRUBBER`."""

    def __init__(self, scrubber: SecretScrubber | None = None, name: str = "") -> None:
        super().__init__(name)
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.__dict__, _RedactingDict) and self.scrubber is None:
            return True  # cleaned by install_log_redaction's record factory already
        _clean_record(record, self.scrubber)
        return True


class _RedactingDict(dict):
    """A LogRecord ``__dict__`` that cleans values stored by subscript: ``Logger.makeRecord``
    copies ``extra=`` fields in with ``rv.__dict__[key] = value`` *after* the record factory
    ran, so this is how the factory gets to see them."""

    scrubber: SecretScrubber | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in _STANDARD_RECORD_ATTRS:
            value = redact_value(value, self.scrubber)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # logging.makeLogRecord uses this
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


_install_lock = threading.Lock()
_installed: dict[str, Any] = {}


def install_log_redaction(secrets: Iterable[str | None] = ()) -> None:
    """Make every log record clean before any handler sees it. Safe to call again (e.g. to
    add secrets); the secrets join :data:`DEFAULT_SCRUBBER`, so ``redact()`` drops them too.

    Two layers, so it holds for records from any logger and for handlers added later (the
    LiveKit CLI installs its handlers on the root logger after user code runs):

    1. A ``logging.setLogRecordFactory`` wrapper cleans each record as it is created: the
       message is formatted with its args and redacted, and the record's ``__dict__`` becomes
       a dict that redacts the ``extra=`` fields ``Logger.makeRecord`` stores afterwards.
    2. A :class:`RedactingFilter` on each handler the root logger has now -- a backstop for
       records built without the factory (a ``Logger`` subclass overriding ``makeRecord``).
    """
    DEFAULT_SCRUBBER.add(*secrets)
    with _install_lock:
        if "factory" not in _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _clean_record(record, None)
                cleaned = _RedactingDict(record.__dict__)
                record.__dict__ = cleaned
                return record

            logging.setLogRecordFactory(factory)
            _installed["factory"] = factory
            _installed["previous_factory"] = previous
            _installed["filter"] = RedactingFilter()
        log_filter = _installed["filter"]
        for handler in logging.getLogger().handlers:
            if log_filter not in handler.filters:
                handler.addFilter(log_filter)


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (for tests); registered secrets are forgotten."""
    with _install_lock:
        if "factory" in _installed:
            if logging.getLogRecordFactory() is _installed["factory"]:
                logging.setLogRecordFactory(_installed["previous_factory"])
            log_filter = _installed["filter"]
            for handler in logging.getLogger().handlers:
                handler.removeFilter(log_filter)
            _installed.clear()
    DEFAULT_SCRUBBER.clear()
