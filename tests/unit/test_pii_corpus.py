"""Redaction measured on what phone calls really carry: >= 98 % of personal data caught,
<= 2 % of ordinary sentences changed (tests/unit/fixtures/pii_corpus.py)."""

from __future__ import annotations

import re

from agent.observability import redact
from tests.unit.fixtures.pii_corpus import ORDINARY, PERSONAL

_TAG = re.compile(r"\[[A-Za-z ]+(?: …\d{0,4})?\]")


def leaks_of(kind: str, text: str, leaks: list[str], context: str | None) -> list[str]:
    out = redact(text, context=context)
    rest = _TAG.sub(" ", out).lower()
    digits = re.sub(r"\D", "", rest)
    return [frag for frag in leaks
            if (frag in digits if frag.isdigit() else frag.lower() in rest)]


def test_corpus_sizes() -> None:
    assert len(PERSONAL) >= 100 and len(ORDINARY) >= 100
    kinds = {kind for kind, *_ in PERSONAL}
    assert {"phone", "card", "email", "ssn", "dob", "pin", "address"} <= kinds
    assert any(ctx for *_, ctx in PERSONAL)  # bare answers after the agent asked


def test_personal_data_is_caught_and_ordinary_talk_survives() -> None:
    missed = [(text, leaked) for kind, text, leaks, ctx in PERSONAL
              if (leaked := leaks_of(kind, text, leaks, ctx))]
    changed = [(text, redact(text, context=ctx)) for text, ctx in ORDINARY
               if redact(text, context=ctx) != text]
    caught_rate = 1 - len(missed) / len(PERSONAL)
    false_positive_rate = len(changed) / len(ORDINARY)
    report = (f"caught {caught_rate:.1%} of {len(PERSONAL)}, changed {false_positive_rate:.1%} "
              f"of {len(ORDINARY)}\nmissed: {missed}\nchanged: {changed}")
    assert caught_rate >= 0.98, report
    assert false_positive_rate <= 0.02, report


def test_every_kind_is_caught_in_its_spoken_form() -> None:
    # The forms of the issue, one by one (a regression in one kind shows up here by name).
    assert redact("four one five five five five zero one four two") == "[PHONE …0142]"
    assert redact("born on the fourteenth of March nineteen eighty-five") == "born on [DOB]"
    assert redact("my pin is twenty four sixty eight") == "my pin is [PIN]"
    assert redact("john dot doe at gmail dot com") == "[EMAIL]"
    assert redact("my social is one two three four five six seven eight nine") == \
        "my social is [SSN]"
    assert redact("it's 1985-03-14") == "it's [DOB]"
    assert redact("2468", context="Please type or say your PIN.") == "[PIN]"
    assert redact("2468") == "2468"  # without the question it is just a number
    assert redact("I live at four twenty one elm street") == "I live at [ADDRESS]"


def test_any_mix_of_number_words_and_punctuation_is_handled() -> None:
    """The redactor sees every log line: it must finish, and never raise, on any input."""
    import random

    vocab = ["one", "two", "oh", "zero", "twenty", "nineteen", "hundred", "thousand", "and",
             "plus", "dash", "slash", "double", "second", "first", "of", "march", "pin", "is",
             "born", "at", "dot", "com", "my", "street", "4821", "1985-03-14", ",", "-", ".",
             "?", "+", "@", "[PIN]", "…0142", "\u202e", "x"]
    rng = random.Random(9)
    for _ in range(3000):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 14))]
        text = rng.choice([" ", "", ", ", "-"]).join(words)
        out = redact(text, context=rng.choice([None, "What's your PIN?", "Your birthday?"]))
        assert isinstance(out, str)
        assert redact(out) == redact(redact(out))  # a second pass settles
