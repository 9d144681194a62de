"""Personal data and secrets never reach transcripts, audit records or log output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from agent.observability import (
    DEFAULT_SCRUBBER,
    RedactingFilter,
    SecretScrubber,
    install_log_redaction,
    luhn_valid,
    redact,
    redact_value,
)
from agent.observability.redaction import uninstall_log_redaction

API_KEY = "sk-test-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
ODD_SECRET = "Zq7!xR2#pL9@vN4"  # no recognisable key shape: only the scrubber knows it

# --------------------------------------------------------------------------- positives

POSITIVE = [
    # phones keep their last four digits
    ("Call me at +1 415-555-0100.", "Call me at [PHONE …0100]."),
    ("(415) 555-0100", "[PHONE …0100]"),
    ("+14155550100", "[PHONE …0100]"),
    ("415.555.0100", "[PHONE …0100]"),
    ("my number is 4155550100", "my number is [PHONE …0100]"),
    ("1-800-555-0199", "[PHONE …0199]"),
    ("dial 555-0100", "dial [PHONE …0100]"),
    ("+44 20 7123 4567", "[PHONE …4567]"),
    ("sip:+14155550100@sip.example.com", "sip:[PHONE …0100]@sip.example.com"),
    ("four one five, five five five, zero one zero zero", "[PHONE …0100]"),
    # joined by underscores: the bridge's room and participant names
    ("room call-_+15550001111_9VvkMvRjnNNe", "room call-_[PHONE …1111]_9VvkMvRjnNNe"),
    ("participant sip_+15550001111 left", "participant sip_[PHONE …1111] left"),
    ("sip_4155550100", "sip_[PHONE …0100]"),
    # cards: no digits kept
    ("card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27"),
    ("4111-1111-1111-1111", "[CARD]"),
    ("5555555555554444", "[CARD]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
    ("4111 1111 1111 1111 12", "[CARD] 12"),
    (
        "four one one one one one one one one one one one one one one one",
        "[CARD]",
    ),
    # emails
    ("write to jane.doe+calls@example.co.uk today", "write to [EMAIL] today"),
    ("JOHN@EXAMPLE.COM", "[EMAIL]"),
    # SSNs
    ("SSN 123-45-6789", "SSN [SSN]"),
    ("it's 123 45 6789", "it's [SSN]"),
    ("my social security number is 123456789", "my social security number is [SSN]"),
    # dates of birth, when labelled
    ("I was born on 1980-04-02", "I was born on [DOB]"),
    ("DOB 04/02/1980", "DOB [DOB]"),
    ("date of birth: April 2, 1980", "date of birth: [DOB]"),
    ("born on 2 April 1980", "born on [DOB]"),
    ("born in 1980", "born in [DOB]"),
    ("my birthday is March 3rd", "my birthday is [DOB]"),
    # a full date ten or more years back is a date of birth, label or not
    ("Delivery on April 2, 1980 was late.", "Delivery on [DOB] was late."),
    # IBANs that pass mod-97
    ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN [IBAN]"),
    ("DE89370400440532013000", "[IBAN]"),
    # PINs, when labelled
    ("my pin is 4821", "my pin is [PIN]"),
    ("PIN: 4821", "PIN: [PIN]"),
    ("pin number 004821", "pin number [PIN]"),
    ("the CVV is 123", "the CVV is [PIN]"),
    ("passcode is four eight two one", "passcode is [PIN]"),
    ("your one-time code is 839201", "your one-time code is [PIN]"),
    # secrets by shape or label
    (f"using {API_KEY}", "using [SECRET]"),
    ("api_key=abcdef1234567890abcdef", "api_key=[SECRET]"),
    ('{"token": "abcdef1234567890"}', '{"token": "[SECRET]"}'),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer [SECRET]"),
    (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl",
        "token [SECRET]",
    ),
    ("LiveKit key APIxG7aP9kQ2mZ4", "LiveKit key [SECRET]"),
    ("AKIAIOSFODNN7EXAMPLE", "[SECRET]"),
    ("my password is hunter2.", "my password is [SECRET]."),
]


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_redaction_is_idempotent(text: str, expected: str) -> None:
    assert redact(redact(text)) == redact(text)


# --------------------------------------------------------------------------- negatives

NEGATIVE = [
    "Your order A12345 ships tomorrow.",
    "order 48213",
    "order #48213",
    "order number 4155550100",  # an id, even when it looks like a phone number
    "ticket T-1043 and booking BK-7731",
    "confirmation code XJ4K2",
    "The total is $1,200.50, or $12.50 a month.",
    "See you at 14:30 on 2026-11-22.",
    "Your appointment is 11/22/2026 at 9:05am.",
    "I have 3 items and 2 kids.",
    "That's 20% off, about 1500 points.",
    "4111 1111 1111 1112",  # Luhn-invalid: not a card
    "GB82 WEST 1234 5698 7654 33",  # bad IBAN checksum
    "000-12-3456",  # not a valid SSN
    "ts=1712345678901 took 1234 ms",  # millisecond timestamp
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "job AJ_umkVq2wJtsjD room RM_diJ3t7nrCmEb call 266417752e8b42828a80d91e1851e4b8",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "listening on 192.168.100.200:8080",
    "order number four eight two one three",
    "sip:agent@livekit.cloud",
    "zip code 94107",
    "I was born in Ohio.",
    "the key is under the mat",
    "Hello, how can I help you today?",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_does_not_redact_ids_prices_times_and_ordinary_text(text: str) -> None:
    assert redact(text) == text


# --------------------------------------------------------------------------- luhn


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("6011111111111117", True),
        ("79927398713", True),
        ("4111111111111112", False),
        ("1234567812345678", False),
        ("", False),
        ("12a4", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


# --------------------------------------------------------------------------- structures


def test_redact_value_walks_nested_structures() -> None:
    record = {
        "call_id": "c-1",
        "caller": "+1 415-555-0100",
        "turns": [
            {"role": "user", "text": "my card is 4111 1111 1111 1111"},
            {"role": "assistant", "text": "Your order A12345 costs $12.50."},
        ],
        "meta": ("jane@example.com", 42, None, True, 3.5),
        "tags": {"vip"},
        "api_key": "short-but-secret",
        "pin": 4821,
        "tokens_used": 1200,
    }
    out = redact_value(record)
    assert out == {
        "call_id": "c-1",
        "caller": "[PHONE …0100]",
        "turns": [
            {"role": "user", "text": "my card is [CARD]"},
            {"role": "assistant", "text": "Your order A12345 costs $12.50."},
        ],
        "meta": ("[EMAIL]", 42, None, True, 3.5),
        "tags": {"vip"},
        "api_key": "[SECRET]",
        "pin": "[PIN]",
        "tokens_used": 1200,
    }
    assert record["caller"] == "+1 415-555-0100"  # the input is not mutated
    json.dumps({k: v for k, v in out.items() if k != "tags"})  # still JSON-serialisable


def test_redact_value_redacts_string_keys() -> None:
    assert redact_value({"+14155550100": "x"}) == {"[PHONE …0100]": "x"}


# --------------------------------------------------------------------------- scrubber


def test_secret_scrubber() -> None:
    scrubber = SecretScrubber([ODD_SECRET, None, "", "short"])
    assert len(scrubber) >= 2 and ODD_SECRET in scrubber and "short" in scrubber
    # a short secret is scrubbed where it stands alone, not inside other words
    assert scrubber.scrub("key=short; shortcut") == "key=[SECRET]; shortcut"
    assert scrubber.scrub(f"key={ODD_SECRET}; again {ODD_SECRET}") == "key=[SECRET]; again [SECRET]"
    # URL-encoded forms too
    assert scrubber.scrub("?k=Zq7%21xR2%23pL9%40vN4") == "?k=[SECRET]"
    assert ODD_SECRET not in repr(scrubber)
    assert redact(f"x {ODD_SECRET} y", scrubber) == "x [SECRET] y"
    assert redact(f"x {ODD_SECRET} y") == f"x {ODD_SECRET} y"  # unknown to the default
    scrubber.clear()
    assert scrubber.scrub(ODD_SECRET) == ODD_SECRET


# --------------------------------------------------------------------------- logging


@pytest.fixture
def log_capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A root handler (as LiveKit's CLI adds one) writing message, extras and tracebacks."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s | caller=%(caller)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield logging.getLogger("livekit.agents.redaction_test"), stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        uninstall_log_redaction()


def _assert_clean(output: str) -> None:
    for leak in (API_KEY, ODD_SECRET, "415-555-0100", "4155550100", "555-0100", "jane@"):
        assert leak not in output, output


def test_log_args_and_extra_never_reach_the_handler(
    log_capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_capture
    install_log_redaction([API_KEY, ODD_SECRET, None])
    logger.info(
        "connecting with key %s for caller %s",
        ODD_SECRET,
        "+1 415-555-0100",
        extra={"caller": f"+14155550100 via {API_KEY}"},
    )
    logger.warning("dict extra", extra={"caller": {"phone": "(415) 555-0100", "k": ODD_SECRET}})
    logger.info("%(who)s called", {"who": "jane@example.com"}, extra={"caller": "-"})
    try:
        raise RuntimeError(f"upstream rejected {ODD_SECRET} for 415-555-0100")
    except RuntimeError:
        logger.exception("failed for %s", "4155550100", extra={"caller": "-"})
    output = stream.getvalue()
    _assert_clean(output)
    assert "connecting with key [SECRET] for caller [PHONE …0100]" in output
    assert "caller=[PHONE …0100] via [SECRET]" in output
    assert "'phone': '[PHONE …0100]', 'k': '[SECRET]'" in output
    assert "[EMAIL] called" in output
    assert "RuntimeError: upstream rejected [SECRET] for [PHONE …0100]" in output


def test_handlers_added_later_and_non_propagating_loggers_are_covered(
    log_capture: tuple[logging.Logger, io.StringIO],
) -> None:
    install_log_redaction([ODD_SECRET])
    # a handler installed after the call, on a logger that does not propagate to root
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    isolated = logging.getLogger("some.library.isolated")
    isolated.addHandler(handler)
    isolated.propagate = False
    isolated.setLevel(logging.INFO)
    try:
        isolated.info("secret %s", ODD_SECRET, extra={"detail": "call +1 415-555-0100"})
        adapter = logging.LoggerAdapter(isolated, {"detail": f"adapter {ODD_SECRET}"})
        adapter.info("via adapter 4155550100")
    finally:
        isolated.removeHandler(handler)
        isolated.propagate = True
    output = stream.getvalue()
    _assert_clean(output)
    assert "secret [SECRET] call [PHONE …0100]" in output
    assert "via adapter [PHONE …0100] adapter [SECRET]" in output


def test_livekit_json_formatter_output_is_clean(
    log_capture: tuple[logging.Logger, io.StringIO],
) -> None:
    from livekit.agents.cli.log import JsonFormatter

    logger, _ = log_capture
    install_log_redaction([ODD_SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        logger.info("hi %s", "+14155550100", extra={"participant": {"identity": ODD_SECRET}})
        try:
            raise ValueError(f"bad {ODD_SECRET}")
        except ValueError:
            logger.exception("oops")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    _assert_clean(stream.getvalue())
    assert lines[0]["message"] == "hi [PHONE …0100]"
    assert lines[0]["participant"] == {"identity": "[SECRET]"}
    assert "ValueError: bad [SECRET]" in lines[1]["exc_info"]


def test_redacting_filter_on_its_own() -> None:
    """Without the factory, the filter alone cleans what reaches its handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(extra_field)s"))
    handler.addFilter(RedactingFilter(SecretScrubber([ODD_SECRET])))
    logger = logging.getLogger("filter.only")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("pin is %s, key %s", "4821", ODD_SECRET, extra={"extra_field": "x@example.com"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert stream.getvalue() == "pin is [PIN], key [SECRET] [EMAIL]\n"


def test_install_registers_secrets_for_redact_and_uninstall_restores() -> None:
    original = logging.getLogRecordFactory()
    try:
        install_log_redaction([ODD_SECRET])
        install_log_redaction([API_KEY])  # again: adds secrets, does not stack factories
        assert redact(f"a {ODD_SECRET} b") == "a [SECRET] b"
        assert ODD_SECRET in DEFAULT_SCRUBBER and API_KEY in DEFAULT_SCRUBBER
    finally:
        uninstall_log_redaction()
    assert logging.getLogRecordFactory() is original
    assert len(DEFAULT_SCRUBBER) == 0
