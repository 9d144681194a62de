"""Phone numbers read the way people say them, in groups with pauses (commas). North American
numbers (+1 or none) are read without the country code: "four one five, five five five, zero
one zero zero". Any other country code is said ("plus four four, two zero, ..."). Masking a
number for logs is a different job: that is ``agent.phones``."""

from __future__ import annotations

import re

from .numbers import digits_to_words, group_sizes

INTL_PHONE_RE = re.compile(r"(?<![\w+])\+\d[\d .()-]{6,22}\d(?![\w])")
NANP_PHONE_RE = re.compile(
    r"(?<![\w+.-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}"
    r"(?![\w-]|\.\d)"
)
LOCAL_PHONE_RE = re.compile(r"(?<![\w+.$,-])[2-9]\d{2}-\d{4}(?![\w-]|\.\d)")

_ONE_DIGIT_CC = {"1", "7"}
_TWO_DIGIT_CC = {
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
}  # fmt: skip


def _country_code_length(digits: str) -> int:
    if digits[0] in _ONE_DIGIT_CC:
        return 1
    if digits[:2] in _TWO_DIGIT_CC:
        return 2
    return 3


def _phone_words(country: str | None, groups: list[str]) -> str:
    national = "".join(groups)
    if country in (None, "1") and len(national) == 10:
        groups = [national[:3], national[3:6], national[6:]]
        country = None
    elif len(groups) == 1:
        groups = []
        i = 0
        for size in group_sizes(len(national)):
            groups.append(national[i : i + size])
            i += size
    parts = [digits_to_words(g) for g in groups if g]
    if country:
        parts.insert(0, "plus " + digits_to_words(country))
    return ", ".join(parts)


def intl_phone_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    if raw.count("(") != raw.count(")"):
        return raw
    groups = [g for g in re.split(r"\D+", raw) if g]
    digits = "".join(groups)
    if not 8 <= len(digits) <= 15:
        return raw
    if len(groups) == 1:
        cc_len = _country_code_length(digits)
        return _phone_words(digits[:cc_len], [digits[cc_len:]])
    return _phone_words(groups[0], groups[1:])


def nanp_phone_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    if raw.count("(") != raw.count(")"):
        return raw
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11:
        digits = digits[1:]
    return _phone_words(None, [digits])


def local_phone_sub(m: re.Match[str]) -> str:
    a, b = m.group(0).split("-")
    return f"{digits_to_words(a)}, {digits_to_words(b)}"
