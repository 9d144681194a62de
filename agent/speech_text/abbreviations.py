"""Abbreviations spoken in full: street suffixes with their house numbers ("123 Main St." ->
"one twenty-three Main Street"), titles ("Dr. Lee" -> "Doctor Lee"), name suffixes, "etc.",
"e.g.", "&" and similar. An abbreviation's period that also ends the sentence is kept
(``keep_sentence_period``), which the time rules use for a written "a.m." too."""

from __future__ import annotations

import re

from .numbers import ONES, integer_words, number_to_words, year_to_words
from .tables import STREET_SUFFIXES, TITLES


def keep_sentence_period(m: re.Match[str]) -> str:
    """A '.' consumed with an abbreviation also ends the sentence when nothing or a capital
    follows; give it back then."""
    rest = m.string[m.end() :]
    if not rest.strip() or re.match(r"\s+[A-Z]", rest):
        return "."
    return ""


STREET_NUMBERED_RE = re.compile(
    r"(?<![\w.,$-])(?P<num>\d{1,5})(?P<pre>\s+[A-Z][\w']*\s+)(?P<abbr>St|Ave|Blvd|Rd|Ln|Ct|Hwy|Pkwy|Dr)"
    r"(?P<dot>\.)?(?![\w'])"
)
STREET_RE = re.compile(
    r"(?P<pre>(?<=[\w,] )[A-Z][\w']*\s+)(?P<abbr>St|Ave|Blvd|Rd|Ln|Ct|Hwy|Pkwy)(?P<dot>\.)"
)
TITLE_RE = re.compile(r"\b(?P<abbr>(?:Dr|Mr|Mrs|Ms|Prof)\.?|St\.)(?=\s+[A-Z])")
DRIVE_RE = re.compile(r"(?P<pre>(?<=[\w,] )[A-Z][\w']*\s+)(?P<abbr>Dr)(?P<dot>\.)")
SIMPLE_ABBREVIATIONS = [
    (re.compile(r"\bapprox\.(?=\s)|\bapprox\b", re.IGNORECASE), "approximately"),
    (re.compile(r"\be\.g\.,?", re.IGNORECASE), "for example,"),
    (re.compile(r"\bi\.e\.,?", re.IGNORECASE), "that is,"),
    (re.compile(r"\bvs\.?(?=\s)", re.IGNORECASE), "versus"),
    (re.compile(r"\bext\.(?=\s)", re.IGNORECASE), "extension"),
    (re.compile(r"\bdept\.(?=\s)", re.IGNORECASE), "department"),
    (re.compile(r"\bw/o(?=\s)", re.IGNORECASE), "without"),
    (re.compile(r"\bw/(?=\s)", re.IGNORECASE), "with"),
    (re.compile(r"\bApt\.?(?=\s)"), "apartment"),
    (re.compile(r"\bSte\.(?=\s)"), "Suite"),
]
ETC_RE = re.compile(r"\betc\.", re.IGNORECASE)
SUFFIX_RE = re.compile(r"(?<=\w),?\s(?P<abbr>Jr|Sr)\.")
AMPERSAND_RE = re.compile(r"\s*&\s*")


def house_number_words(s: str) -> str:
    """House numbers in pairs: 123 -> "one twenty-three", 1600 -> "sixteen hundred"."""
    n = int(s)
    if len(s) == 3 and n % 100:
        head, rest = divmod(n, 100)
        tail = f"oh {ONES[rest]}" if rest < 10 else number_to_words(rest)
        return f"{ONES[head]} {tail}"
    if len(s) == 4:
        return year_to_words(n)
    return integer_words(s)


def street_sub(m: re.Match[str]) -> str:
    word = STREET_SUFFIXES[m.group("abbr").lower()]
    dot = keep_sentence_period(m) if m.group("dot") else ""
    number = house_number_words(m.group("num")) if "num" in m.re.groupindex else ""
    return f"{number}{m.group('pre')}{word}{dot}"


def title_sub(m: re.Match[str]) -> str:
    return TITLES[m.group("abbr").rstrip(".").lower()]


def suffix_sub(m: re.Match[str]) -> str:
    word = "Junior" if m.group("abbr") == "Jr" else "Senior"
    return f" {word}{keep_sentence_period(m)}"


def etc_sub(m: re.Match[str]) -> str:
    return "et cetera" + keep_sentence_period(m)
