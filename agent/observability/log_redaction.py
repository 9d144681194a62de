"""Logs without personal data or secrets: a record factory and a handler filter.

`install_log_redaction(secrets)` makes every log record from every logger clean before any
handler or formatter sees it (see its docstring for how).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from livekit.agents.telemetry.pii import is_pii_attribute

from .secret_scrubber import DEFAULT_SCRUBBER, SecretScrubber
from .text_redaction import redact, redact_value

# What a field LiveKit marks as personal (`lk.pii.user_transcript`, `lk.pii.dtmf_inputs`,
# the GenAI content attributes) becomes: replaced whole, never scanned, because a bare
# "2468" in a transcript field is a PIN that no pattern can tell from a number.
PII_FIELD = "[PII]"


def _clean_extra(key: str, value: Any, scrubber: SecretScrubber | None) -> Any:
    if is_pii_attribute(key) and value not in (None, ""):
        return PII_FIELD
    return redact_value(value, scrubber)

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
        dict.__setitem__(record.__dict__, key, _clean_extra(key, value, scrubber))
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


class _RedactingDict(dict[str, Any]):
    """A LogRecord ``__dict__`` that cleans values stored by subscript: ``Logger.makeRecord``
    copies ``extra=`` fields in with ``rv.__dict__[key] = value`` *after* the record factory
    ran, so this is how the factory gets to see them."""

    scrubber: SecretScrubber | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in _STANDARD_RECORD_ATTRS:
            value = _clean_extra(key, value, self.scrubber)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # logging.makeLogRecord uses this
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


@dataclass(frozen=True)
class _Installation:
    factory: Callable[..., logging.LogRecord]
    previous_factory: Callable[..., logging.LogRecord]
    log_filter: RedactingFilter


_install_lock = threading.Lock()
_installed: _Installation | None = None


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
    global _installed
    DEFAULT_SCRUBBER.add(*secrets)
    with _install_lock:
        if _installed is None:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _clean_record(record, None)
                cleaned = _RedactingDict(record.__dict__)
                record.__dict__ = cleaned
                return record

            logging.setLogRecordFactory(factory)
            _installed = _Installation(factory, previous, RedactingFilter())
        log_filter = _installed.log_filter
        for handler in logging.getLogger().handlers:
            if log_filter not in handler.filters:
                handler.addFilter(log_filter)


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (for tests); registered secrets are forgotten."""
    global _installed
    with _install_lock:
        if _installed is not None:
            if logging.getLogRecordFactory() is _installed.factory:
                logging.setLogRecordFactory(_installed.previous_factory)
            for handler in logging.getLogger().handlers:
                handler.removeFilter(_installed.log_filter)
            _installed = None
    DEFAULT_SCRUBBER.clear()
