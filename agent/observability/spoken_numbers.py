"""Numbers as a phone transcript spells them, read back as digits: the redactor's view of text.

Deepgram runs with `smart_format=False`, so a caller's numbers arrive as words: "four one
five five five five zero one four two", "twenty four sixty eight", "nineteen eighty-five",
"the fourteenth of March", "double five". `canonical(text)` rewrites every run of number
words into digits ("4155550142", "2468", "1985", "14th", "55") and keeps, for each piece, where
it came from, so a redaction found in the digits can be applied to the words.

Within a run, words group the way people say numbers: digit by digit ("four one five" is
415), in pairs ("twenty four sixty eight" is 2468, "nineteen eighty-five" is 1985), with
hundreds and thousands ("four twenty one" is 421, "two thousand and five" is 2005); a comma
(a pause) becomes a space, so "one two three, four five, six seven eight nine" is
"123 45 6789". "oh" is a zero only next to other number words; "second" is an ordinal only
next to a month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
         "seven": 7, "eight": 8, "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
         "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
            "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
            "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
            "thirtieth": 30}
_REPEATS = {"double": 2, "triple": 3}
_SCALES = {"hundred": 100, "thousand": 1000}
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
# Spoken punctuation inside a number ("one nine eight five dash oh three dash one four").
_JOINERS = {"dash": "-", "hyphen": "-", "slash": "/"}
_NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | set(ORDINALS) | set(_REPEATS) | \
    set(_SCALES) | set(_JOINERS) | {"and", "plus"}

_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Piece:
    """A stretch of the original text and what the redactor reads there."""

    start: int  # in the original text
    end: int
    canon: str  # the same text, or the digits of a run of number words
    spoken: bool  # True for a run of number words


def _suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _small(words: list[str], i: int) -> tuple[int, int] | None:
    """A number below 1000 starting at `words[i]`: (value, next index), or None."""
    w = words[i]
    if w in UNITS and w != "oh":
        value, i = UNITS[w], i + 1
    elif w in TEENS:
        value, i = TEENS[w], i + 1
    elif w in TENS:
        value, i = TENS[w], i + 1
        if i < len(words) and words[i] in UNITS and words[i] != "zero" and words[i] != "oh":
            value, i = value + UNITS[words[i]], i + 1
        return value, i
    else:
        return None
    if i < len(words) and words[i] == "hundred" and value < 20:
        value, i = value * 100, i + 1
        if i + 1 < len(words) and words[i] == "and" and words[i + 1] not in ("and",):
            i += 1
        rest = _tens_units(words, i)
        if rest is not None:
            value, i = value + rest[0], rest[1]
    return value, i


def _tens_units(words: list[str], i: int) -> tuple[int, int] | None:
    if i >= len(words):
        return None
    w = words[i]
    if w in TEENS:
        return TEENS[w], i + 1
    if w in TENS:
        value = TENS[w]
        if i + 1 < len(words) and words[i + 1] in UNITS and words[i + 1] not in ("zero", "oh"):
            return value + UNITS[words[i + 1]], i + 2
        return value, i + 1
    if w in UNITS and w not in ("zero", "oh"):
        return UNITS[w], i + 1
    return None


def _cardinal(words: list[str], i: int) -> tuple[str, int] | None:
    """One spoken group at `words[i]`: its digits and the next index."""
    w = words[i]
    if w in ("zero", "oh"):
        return "0", i + 1
    if w in _REPEATS and i + 1 < len(words) and words[i + 1] in UNITS:
        return str(UNITS[words[i + 1]]) * _REPEATS[w], i + 2
    small = _small(words, i)
    if small is None:
        return None
    value, i = small
    if i < len(words) and words[i] == "thousand" and value < 1000:
        value, i = value * 1000, i + 1
        if i + 1 < len(words) and words[i] == "and":
            i += 1
        rest = _small(words, i) if i < len(words) else None
        if rest is not None and rest[0] < 1000:
            value, i = value + rest[0], rest[1]
    return str(value), i


def _run_digits(words: list[str]) -> str | None:
    """The digits of a run of number words ("twenty four sixty eight" → "2468"); None when
    the words are no number (a lone "and", "plus", "double")."""
    out: list[str] = []
    i = 0
    if words and words[0] == "plus":
        out.append("+")
        i = 1
    while i < len(words):
        w = words[i]
        if w == "and":
            i += 1
            continue
        if w in ORDINALS:
            out.append(f"{ORDINALS[w]}{_suffix(ORDINALS[w])}")
            i += 1
            continue
        if w in TENS and i + 1 < len(words) and words[i + 1] in ORDINALS \
                and ORDINALS[words[i + 1]] < 10:
            n = TENS[w] + ORDINALS[words[i + 1]]
            out.append(f"{n}{_suffix(n)}")
            i += 2
            continue
        group = _cardinal(words, i)
        if group is None:
            return None
        out.append(group[0])
        i = group[1]
    digits = "".join(out)
    return digits if any(ch.isdigit() for ch in digits) else None


def _is_number_word(words: list[str], i: int) -> bool:
    w = words[i]
    if w not in _NUMBER_WORDS:
        return False
    if w == "second":  # "just a second": an ordinal only beside a month
        before = words[i - 1] if i > 0 else ""
        after = words[i + 2] if i + 2 < len(words) and words[i + 1] == "of" else ""
        return before in MONTHS or after in MONTHS
    return True


def canonical(text: str) -> list[Piece]:
    """`text` cut into pieces; each run of number words becomes one piece of digits.

    Runs end at anything but spaces, commas and hyphens between number words; an ordinal
    ends a run ("fourteenth nineteen eighty-five" is "14th" and "1985"); a comma inside a run
    becomes a space between its digit groups."""
    tokens = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(text)]
    words = [t[2] for t in tokens]
    # "one-time", "two-factor": a number word hyphenated to another word is part of a word
    compound = {k for k in range(len(tokens)) for n in (k - 1, k + 1)
                if 0 <= n < len(tokens) and words[n] not in _NUMBER_WORDS
                and text[min(tokens[k][1], tokens[n][1]):max(tokens[k][0], tokens[n][0])]
                == "-"}
    pieces: list[Piece] = []
    pos = 0
    i = 0
    while i < len(tokens):
        if not _is_number_word(words, i) or words[i] in ("and", *_JOINERS) or i in compound:
            i += 1
            continue
        j, groups = i, [[words[i]]]
        while j + 1 < len(tokens) and _is_number_word(words, j + 1) \
                and j + 1 not in compound and words[j] not in ORDINALS:
            gap = text[tokens[j][1]:tokens[j + 1][0]]
            if not re.fullmatch(r"[ ,-]+", gap) or words[j + 1] == "plus":
                break
            if "," in gap or words[j + 1] in _JOINERS or words[j] in _JOINERS:
                groups.append([])
            groups[-1].append(words[j + 1])
            j += 1
        # "... and" or "... dash" ends no number
        while j > i and groups[-1][-1] in ("and", *_JOINERS):
            groups[-1].pop()
            if not groups[-1]:
                groups.pop()
            j -= 1
        digit_groups = [_JOINERS[g[0]] if len(g) == 1 and g[0] in _JOINERS else _run_digits(g)
                        for g in groups if g]
        all_oh = all(w == "oh" for g in groups for w in g)
        if digit_groups and None not in digit_groups and not all_oh:
            start, end = tokens[i][0], tokens[j][1]
            if start > pos:
                pieces.append(Piece(pos, start, text[pos:start], False))
            pieces.append(Piece(start, end, _join(digit_groups), True))
            pos = end
        i = max(j, i) + 1  # always forward
    if pos < len(text):
        pieces.append(Piece(pos, len(text), text[pos:], False))
    return pieces


def _join(groups: list[str | None]) -> str:
    """Digit groups with a space between them (a pause), none around a spoken "dash"."""
    out = ""
    for group in groups:
        if not group:
            continue
        if out and group not in _JOINERS.values() and out[-1] not in _JOINERS.values():
            out += " "
        out += group
    return out


def canonical_text(pieces: list[Piece]) -> str:
    return "".join(p.canon for p in pieces)
