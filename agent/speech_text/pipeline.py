"""The ordered rule list and ``normalize_for_speech``. Order matters: addresses go first so
their digits and dots are not read as numbers, identifiers before phone numbers and plain
digits, streets and titles before their numbers lose their neighbours, and bare integers
last. Every rule writes words only, so a second pass changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.plain_text import strip_invisible

from . import abbreviations as abbr
from . import addresses, dates, measures, money, phone_numbers, references, times
from .markdown import CLEANUP_RE, strip_markdown

# A replacement is what ``re.Pattern.sub`` takes: a constant (no backslashes in ours, so no
# template escapes) or a function of the match.
Replacement = str | Callable[[re.Match[str]], str]

_RULES: list[tuple[re.Pattern[str], Replacement]] = [
    # addresses before anything reads their digits and dots
    (addresses.EMAIL_RE, addresses.email_sub),
    (addresses.URL_RE, addresses.url_sub),
    # dates
    (dates.ISO_DATE_RE, dates.iso_sub),
    (dates.US_DATE_RE, dates.us_date_sub),
    (dates.MONTH_DAY_RE, dates.month_day_sub),
    (dates.DAY_MONTH_RE, dates.month_day_sub),
    (dates.WEEKDAY_RANGE_RE, dates.weekday_range_sub),
    # identifiers before phone numbers and plain digits
    (references.ID_RE, references.id_sub),
    (references.ENDING_IN_RE, references.ending_in_sub),
    (phone_numbers.INTL_PHONE_RE, phone_numbers.intl_phone_sub),
    (phone_numbers.NANP_PHONE_RE, phone_numbers.nanp_phone_sub),
    (phone_numbers.LOCAL_PHONE_RE, phone_numbers.local_phone_sub),
    # money and times
    (money.MONEY_SYMBOL_RE, money.money_symbol_sub),
    (money.MONEY_CODE_BEFORE_RE, money.money_code_sub),
    (money.MONEY_AFTER_RE, money.money_code_sub),
    (money.PER_RE, money.per_sub),
    (times.TIME_RANGE_RE, times.time_range_sub),
    (times.TIME_RE, times.time_sub),
    (times.MERIDIEM_DASH_RE, times.meridiem_dash_sub),
    (dates.SHORT_DATE_RE, dates.short_date_sub),
    (references.BARE_CODE_RE, references.bare_code_sub),
    # streets and titles before "No." / numbers lose their neighbours
    (abbr.STREET_NUMBERED_RE, abbr.street_sub),
    (abbr.STREET_RE, abbr.street_sub),
    (abbr.TITLE_RE, abbr.title_sub),
    (abbr.DRIVE_RE, abbr.street_sub),
    (abbr.SUFFIX_RE, abbr.suffix_sub),
    # other numbers
    (measures.NUMBER_RANGE_RE, measures.range_sub),
    (measures.PERCENT_RE, measures.percent_sub),
    (measures.DEGREE_RE, measures.degree_sub),
    (measures.UNIT_RE, measures.unit_sub),
    (measures.ORDINAL_RE, measures.ordinal_sub),
    (measures.HASH_NUMBER_RE, "number "),
    (measures.DOTTED_RE, measures.dotted_sub),
    (measures.COMMA_NUMBER_RE, measures.decimal_sub),
    (measures.DECIMAL_RE, measures.decimal_sub),
    (measures.INTEGER_RE, measures.integer_sub),
    # words
    (abbr.ETC_RE, abbr.etc_sub),
    (abbr.AMPERSAND_RE, " and "),
    (CLEANUP_RE, ""),
]

_MAX_PASSES = 4


def normalize_for_speech(text: str) -> str:
    """Rewrite ``text`` so a TTS voice reads it the way a person would on the phone."""
    # One pass is nearly always final; a rewrite can occasionally expose a match for an
    # earlier rule ("Dr. St. Mary" -> "Doctor St. Mary"), so repeat until nothing changes,
    # which is what makes the function idempotent.
    for _ in range(_MAX_PASSES):
        if not text:
            return text
        out = _normalize_once(text)
        if out == text:
            break
        text = out
    return text


def _normalize_once(text: str) -> str:
    text = strip_markdown(strip_invisible(text, keep_newlines=True))  # nothing invisible
    for pattern, word in abbr.SIMPLE_ABBREVIATIONS:
        text = pattern.sub(word, text)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text
