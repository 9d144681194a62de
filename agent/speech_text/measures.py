"""Every number no earlier rule claimed: ranges ("3-5" -> "three to five"), percentages,
degrees, units ("5 mins"), ordinals ("3rd"), "#" / "No." before a number, dotted versions,
numbers with thousands separators, decimals, and finally bare integers (read as words, as a
year from 1900 to 2099, or digit by digit when five or more digits long)."""

from __future__ import annotations

import re

from .numbers import decimal_words, integer_words, ordinal_words
from .tables import UNITS

PERCENT_RE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?%")
DEGREE_RE = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)\s?°(?:\s?(?P<u>[FC])(?![A-Za-z]))?")
UNIT_RE = re.compile(rf"(?<![\w.,])(\d+(?:\.\d+)?)\s?(?P<u>{'|'.join(UNITS)})\b")
ORDINAL_RE = re.compile(r"(?<![\w.,])(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
HASH_NUMBER_RE = re.compile(r"(?:#|\bNo\.)\s?(?=\d)")
DOTTED_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w]|\.\d)")
COMMA_NUMBER_RE = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w]|[.,]\d)")
DECIMAL_RE = re.compile(r"(?<![\w.,])\d+\.\d+(?![\w]|[.,]\d)")
NUMBER_RANGE_RE = re.compile(
    r"(?<![\w.,:/$#-])(\d{1,4})\s?[-–—]\s?(\d{1,4})(?P<pct>\s?%)?(?![\w:/-]|[.,]\d)"
)
INTEGER_RE = re.compile(r"(?<![\w.,])\d+(?![\w]|[.,]\d)")


def percent_sub(m: re.Match[str]) -> str:
    return f"{decimal_words(m.group(1))} percent"


def degree_sub(m: re.Match[str]) -> str:
    unit = {"F": " Fahrenheit", "C": " Celsius"}.get(m.group("u") or "", "")
    noun = "degree" if m.group(1) == "1" else "degrees"
    return f"{decimal_words(m.group(1))} {noun}{unit}"


def unit_sub(m: re.Match[str]) -> str:
    singular, plural = UNITS[m.group("u")]
    return f"{decimal_words(m.group(1))} {singular if m.group(1) == '1' else plural}"


def range_sub(m: re.Match[str]) -> str:
    out = f"{integer_words(m.group(1))} to {integer_words(m.group(2))}"
    return out + (" percent" if m.group("pct") else "")


def ordinal_sub(m: re.Match[str]) -> str:
    return ordinal_words(int(m.group(1)))


def dotted_sub(m: re.Match[str]) -> str:
    return " dot ".join(integer_words(p) for p in m.group(0).split("."))


def decimal_sub(m: re.Match[str]) -> str:
    return decimal_words(m.group(0))


def integer_sub(m: re.Match[str]) -> str:
    return integer_words(m.group(0))
