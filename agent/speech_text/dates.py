"""Dates, spoken without a weekday ("November twenty-second, twenty twenty-six"): adding one
would double it whenever the LLM already wrote "Sunday, 2026-11-22". Numeric dates are US
style (month/day/year); "22/11/2026" (first part > 12) is read as day/month because nothing
else makes sense. Also weekday ranges ("Mon-Fri") and the common fractions that look like a
short date ("1/2", "24/7")."""

from __future__ import annotations

import re

from .numbers import ordinal_words, year_to_words
from .tables import MONTH_LOOKUP, MONTH_RE, MONTHS, WEEKDAYS
from .times import time_words

ISO_DATE_RE = re.compile(
    r"(?<![\w./-])(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"(?![\w/-]|\.\d)"
)
US_DATE_RE = re.compile(r"(?<![\w./-])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/]|\.\d)")
SHORT_DATE_RE = re.compile(r"(?<![\w./$-])(\d{1,2})/(\d{1,2})(?![\w/%]|\.\d)")
_FRACTIONS = {
    "1/2": "one half", "1/3": "one third", "2/3": "two thirds", "1/4": "one quarter",
    "3/4": "three quarters", "24/7": "twenty-four seven",
}  # fmt: skip
MONTH_DAY_RE = re.compile(
    rf"\b(?P<mon>{MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?![\w:]|\.\d)"
    r"(?:,?\s+(?P<y>\d{4})(?![\w:]|\.\d))?"
)
DAY_MONTH_RE = re.compile(
    rf"(?<![\w.,$])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{MONTH_RE})\b"
    r"(?:\.?,?\s+(?P<y>\d{4})(?![\w:]|\.\d))?"
)
WEEKDAY_RANGE_RE = re.compile(
    r"\b(Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\.?\s?[-–—]\s?(Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\b\.?"
)


def _date_words(month: int, day: int, year: int | None) -> str:
    out = f"{MONTHS[month - 1]} {ordinal_words(day)}"
    if year is not None:
        out += f", {year_to_words(year)}"
    return out


def _valid_date(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def iso_sub(m: re.Match[str]) -> str:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not _valid_date(month, day):
        return m.group(0)
    out = _date_words(month, day, year)
    if m.group(4):
        out += " at " + time_words(int(m.group(4)), int(m.group(5)), None, clock24=True)
    return out


def us_date_sub(m: re.Match[str]) -> str:
    a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
    year = int(y) + 2000 if len(y) == 2 else int(y)
    month, day = (a, b) if a <= 12 else (b, a)
    if not _valid_date(month, day):
        return m.group(0)
    return _date_words(month, day, year)


def short_date_sub(m: re.Match[str]) -> str:
    if m.group(0) in _FRACTIONS:
        return _FRACTIONS[m.group(0)]
    a, b = int(m.group(1)), int(m.group(2))
    month, day = (a, b) if a <= 12 else (b, a)
    if not _valid_date(month, day):
        return m.group(0)
    return _date_words(month, day, None)


def month_day_sub(m: re.Match[str]) -> str:
    day = int(m.group("d"))
    month = MONTH_LOOKUP[m.group("mon").lower()]
    if not 1 <= day <= 31:
        return m.group(0)
    year = int(m.group("y")) if m.group("y") else None
    return _date_words(month, day, year)


def weekday_range_sub(m: re.Match[str]) -> str:
    return f"{WEEKDAYS[m.group(1).lower()]} to {WEEKDAYS[m.group(2).lower()]}"
