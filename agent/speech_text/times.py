"""Clock times and time ranges: "2:30 PM" -> "two thirty PM", "14:30" -> "two thirty PM",
"9-11am" -> "nine to eleven AM". Without AM/PM a time is read in 24-hour terms only when it
clearly is one ("14:30", "09:15", "00:15", "12:00"), otherwise as written ("9:05" -> "nine oh
five"); a bare number is left for the number rules."""

from __future__ import annotations

import re

from .abbreviations import keep_sentence_period
from .numbers import ONES, number_to_words


def time_words(hour: int, minute: int, meridiem: str | None, *, clock24: bool) -> str:
    """meridiem is "AM"/"PM" when written; clock24 when the text is clearly 24-hour."""
    if meridiem and 1 <= hour <= 12:
        if hour == 12 and minute == 0:
            return "twelve noon" if meridiem == "PM" else "twelve midnight"
    elif clock24 or hour == 0 or hour >= 12:
        if hour == 0 and minute == 0:
            return "twelve midnight"
        if hour == 12 and minute == 0:
            return "twelve noon"
        meridiem = "AM" if hour < 12 else "PM"
        hour = hour % 12 or 12
    else:
        meridiem = None
    words = number_to_words(hour)
    if minute:
        words += " " + (f"oh {ONES[minute]}" if minute < 10 else number_to_words(minute))
    elif meridiem is None:
        words += " o'clock"
    return f"{words} {meridiem}" if meridiem else words


def _time_pattern(i: int) -> str:
    return (
        rf"(?:(?P<h{i}>[01]?\d|2[0-3]):(?P<m{i}>[0-5]\d)(?::(?P<s{i}>[0-5]\d))?|(?P<hb{i}>1[0-2]|0?\d))"
        rf"(?:\s?(?P<ap{i}>[AaPp])(?P<apm{i}>\.\s?[Mm]\.|\.?\s?[Mm])(?![A-Za-z]))?"
    )


TIME_RANGE_RE = re.compile(
    rf"(?<![\w:.$/,-]){_time_pattern(1)}\s?(?:[-–—]|to)\s?{_time_pattern(2)}(?![\w:]|\.\d)"
)
TIME_RE = re.compile(rf"(?<![\w:.$/,-]){_time_pattern(1)}(?![\w:]|\.\d)")
MERIDIEM_DASH_RE = re.compile(r"\b(AM|PM|noon|midnight)\s?[-–—]\s?(?=\w)")


def _parse_time(m: re.Match[str], i: int) -> tuple[int, int, str | None, bool, bool]:
    """-> (hour, minute, meridiem, clock24, has_minutes) of time number ``i`` of the match."""
    meridiem = None
    if m.group(f"ap{i}"):
        meridiem = "AM" if m.group(f"ap{i}").lower() == "a" else "PM"
    if m.group(f"h{i}") is not None:
        h_str = m.group(f"h{i}")
        clock24 = len(h_str) == 2 and h_str[0] == "0"  # "09:15" is a 24-hour clock
        return int(h_str), int(m.group(f"m{i}")), meridiem, clock24, True
    return int(m.group(f"hb{i}")), 0, meridiem, False, False


def _meridiem_suffix(m: re.Match[str], i: int) -> str:
    """Keep a sentence period swallowed by a written "a.m."."""
    apm = m.group(f"apm{i}")
    if apm and apm.endswith("."):
        return keep_sentence_period(m)
    return ""


def time_sub(m: re.Match[str]) -> str:
    hour, minute, meridiem, clock24, has_minutes = _parse_time(m, 1)
    if not has_minutes and meridiem is None:
        return m.group(0)  # a bare number, not a time
    if not has_minutes and hour == 0:
        return m.group(0)
    return time_words(hour, minute, meridiem, clock24=clock24) + _meridiem_suffix(m, 1)


def time_range_sub(m: re.Match[str]) -> str:
    h1, m1, ap1, c1, has1 = _parse_time(m, 1)
    h2, m2, ap2, c2, has2 = _parse_time(m, 2)
    if not (has2 or ap2):
        return m.group(0)  # "3-4" or "9-5": handled as a number range later
    if not has1 and h1 == 0:
        return m.group(0)
    if ap1 is None and ap2 is not None and not c1 and 1 <= h1 <= 12 and not (h1 == 12 and not m1):
        # "9-11am" / "9:30-10:30 AM": the first time shares the written meridiem
        first = time_words(h1, m1, None, clock24=False).removesuffix(" o'clock")
    else:
        first = time_words(h1, m1, ap1, clock24=c1)
    second = time_words(h2, m2, ap2, clock24=c2)
    return f"{first} to {second}" + _meridiem_suffix(m, 2)


def meridiem_dash_sub(m: re.Match[str]) -> str:
    """A dash after a spoken meridiem is a range: "9 AM-noon" -> "nine AM to noon"."""
    return f"{m.group(1)} to "
