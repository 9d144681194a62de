"""Rewrite LLM text so the TTS voice says it the way a person would on the phone.

The LLM writes for the eye ("$12.50", "14:30", "(415) 555-0100", "order #A12345"); the voice
must speak for the ear ("twelve dollars and fifty cents", "two thirty PM", ...). This module
does that rewrite in pure Python (no number-to-words dependency).

Public API
----------
``normalize_for_speech(text) -> str``
    Pure and idempotent: ``normalize(normalize(t)) == normalize(t)``. Every rewrite produces
    words only (no digits, no symbols a later rule would match), which is what makes a second
    pass a no-op.

``speech_text_transform``
    An async generator function ``(AsyncIterable[str]) -> AsyncIterable[str]``, the shape
    LiveKit accepts in ``AgentSession(tts_text_transforms=[speech_text_transform])``. It strips
    markdown and emoji itself, so it replaces LiveKit's default ``filter_markdown`` /
    ``filter_emoji`` transforms (passing the list overrides the defaults).

``SpeechTextBuffer``
    The synchronous streaming core the transform uses: ``push(chunk) -> str`` returns the
    text that is now safe to speak, ``flush() -> str`` returns the rest at end of stream.

Choices
-------
* Dates are spoken without a weekday ("November twenty-second, twenty twenty-six"): adding
  one would double it whenever the LLM already wrote "Sunday, 2026-11-22".
* Numeric dates are US style (month/day/year). "22/11/2026" (first part > 12) is read as
  day/month because nothing else makes sense.
* Phone numbers: North American numbers (+1 or none) are read without the country code,
  as "four one five, five five five, zero one zero zero" (commas are pauses). Any other
  country code is said ("plus four four, two zero, ...").
* Reference numbers ("order #A12345", "ticket T-1043") are spelled character by character
  with the letters upper-cased so the voice spells them; a "#" after the keyword is dropped.
  Bare digit runs of five or more are read digit by digit (grouped in threes and fours with
  pauses when longer than six); smaller numbers are read as words; four-digit numbers from
  1900 to 2099 are read as years ("twenty twenty-six").
* A clock time without AM/PM is read in 24-hour terms when it is clearly 24-hour ("14:30",
  "09:15", "00:15", "12:00"), otherwise as written ("9:05" -> "nine oh five").

Streaming
---------
LLM text arrives in small chunks, so "$12.50" may arrive as "$1" + "2.5" + "0". The
transform only cuts the stream between two plain words (letters only, no rule keyword
nearby): no rule can match across such a gap, so normalizing the pieces separately gives
exactly the one-shot result. That cut point is found about one or two words behind the
newest text, so the added latency is a word or two of LLM output. At end of stream the rest
is flushed. If a very long stretch has no safe cut (e.g. a long list of numbers), the buffer
is cut at whitespace once it exceeds ``_MAX_BUFFER`` characters, trading exactness for
latency.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

__all__ = [
    "SpeechTextBuffer",
    "digits_to_words",
    "house_number_words",
    "normalize_for_speech",
    "number_to_words",
    "ordinal_words",
    "speech_text_transform",
    "year_to_words",
]

# --------------------------------------------------------------------------- number words

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip


def number_to_words(n: int) -> str:
    """Cardinal words: 1234 -> "one thousand two hundred thirty-four" (no "and")."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**15:
        return digits_to_words(str(n))
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_to_words(head)} {name}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """Ordinal words: 22 -> "twenty-second", 100 -> "one hundredth"."""
    words = number_to_words(n)
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in _ORDINAL_IRREGULAR:
        return head + _ORDINAL_IRREGULAR[last]
    if last.endswith("y"):
        return head + last[:-1] + "ieth"
    return head + last + "th"


def year_to_words(year: int) -> str:
    """Years as people say them: 2026 -> "twenty twenty-six", 1905 -> "nineteen oh five"."""
    if not 1000 <= year <= 9999:
        return number_to_words(year)
    century, rest = divmod(year, 100)
    if year % 1000 == 0 or 2000 <= year <= 2009:
        return number_to_words(year)
    if rest == 0:
        return f"{number_to_words(century)} hundred"
    if rest < 10:
        return f"{number_to_words(century)} oh {_ONES[rest]}"
    return f"{number_to_words(century)} {number_to_words(rest)}"


def digits_to_words(digits: str) -> str:
    """ "0100" -> "zero one zero zero" (non-digits are ignored)."""
    return " ".join(_ONES[int(d)] for d in digits if d.isdigit())


def _group_sizes(n: int) -> list[int]:
    """Pause groups for reading n digits: up to six in one breath, then threes and fours."""
    if n <= 6:
        return [n]
    groups = -(-n // 4)
    base, extra = divmod(n, groups)
    # smaller groups first: 10 digits -> 3, 3, 4 (like a phone number)
    return [base] * (groups - extra) + [base + 1] * extra


def _grouped_digits(digits: str) -> str:
    out, i = [], 0
    for size in _group_sizes(len(digits)):
        out.append(digits_to_words(digits[i : i + size]))
        i += size
    return ", ".join(out)


def _decimal_words(s: str) -> str:
    """ "1,234.05" -> "one thousand two hundred thirty-four point zero five"."""
    s = s.replace(",", "")
    whole, _, frac = s.partition(".")
    words = number_to_words(int(whole or "0"))
    if frac:
        words += " point " + digits_to_words(frac)
    return words


def _integer_words(s: str) -> str:
    """A bare integer as a person reads it (see the module notes)."""
    if len(s) > 1 and s.startswith("0"):
        return _grouped_digits(s)
    if len(s) >= 5:
        return _grouped_digits(s)
    n = int(s)
    if len(s) == 4 and 1900 <= n <= 2099:
        return year_to_words(n)
    return number_to_words(n)


# --------------------------------------------------------------------------- tables

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
_MONTH_LOOKUP = {m.lower(): i + 1 for i, m in enumerate(_MONTHS)}
_MONTH_LOOKUP.update({m[:3].lower(): i + 1 for i, m in enumerate(_MONTHS)})
_MONTH_LOOKUP["sept"] = 9
_MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WEEKDAYS = {
    "mon": "Monday", "tue": "Tuesday", "tues": "Tuesday", "wed": "Wednesday",
    "thu": "Thursday", "thur": "Thursday", "thurs": "Thursday", "fri": "Friday",
    "sat": "Saturday", "sun": "Sunday",
}  # fmt: skip

# (singular, plural, sub-unit singular, sub-unit plural)
_CURRENCIES: dict[str, tuple[str, str, str | None, str | None]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "JPY": ("yen", "yen", None, None),
}
_SYMBOL_CODES = {"$": "$", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_SCALE_WORDS = {
    "k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion",
    "thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
}  # fmt: skip

_UNITS = {
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ft": ("foot", "feet"), "mi": ("mile", "miles"),
    "km": ("kilometer", "kilometers"), "kg": ("kilogram", "kilograms"),
    "mph": ("mile per hour", "miles per hour"),
}  # fmt: skip
_PER_UNITS = {
    "month": "month", "mo": "month", "hour": "hour", "hr": "hour", "day": "day",
    "night": "night", "week": "week", "wk": "week", "year": "year", "yr": "year",
    "person": "person", "minute": "minute", "min": "minute", "user": "user", "seat": "seat",
}  # fmt: skip

_STREET_SUFFIXES = {
    "st": "Street", "ave": "Avenue", "blvd": "Boulevard", "rd": "Road", "ln": "Lane",
    "ct": "Court", "hwy": "Highway", "pkwy": "Parkway", "dr": "Drive",
}  # fmt: skip
_TITLES = {
    "dr": "Doctor", "mr": "Mister", "mrs": "Missus", "ms": "Miz", "prof": "Professor",
    "st": "Saint",
}  # fmt: skip

# Spelled-out symbols inside emails and URLs.
_URL_SYMBOLS = {".": "dot", "/": "slash", "-": "dash", "_": "underscore", "+": "plus",
                "@": "at", "~": "tilde", "#": "hash", "=": "equals", ":": "colon"}  # fmt: skip

# --------------------------------------------------------------------------- helpers


def _spell(chars: str) -> str:
    """ "BK-7731" -> "B K seven seven three one"."""
    out = []
    for ch in chars:
        if ch.isdigit():
            out.append(_ONES[int(ch)])
        elif ch.isalpha():
            out.append(ch.upper())
    return " ".join(out)


def _keep_sentence_period(m: re.Match[str]) -> str:
    """A '.' consumed with an abbreviation also ends the sentence when nothing or a capital
    follows; give it back then."""
    rest = m.string[m.end() :]
    if not rest.strip() or re.match(r"\s+[A-Z]", rest):
        return "."
    return ""


# --------------------------------------------------------------------------- markdown, emoji

_EMOJI = (
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, supplemental symbols
    "\u2600-\u27bf"  # misc symbols and dingbats
    "\u2b00-\u2bff"  # arrows and stars (⭐)
    "\u2300-\u23ff"  # misc technical (⌚, ⏰)
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "]+"
)
_EMOJI_RE = re.compile(rf"[ \t]*(?:{_EMOJI})[ \t]*")


def _emoji_sub(m: re.Match[str]) -> str:
    s = m.string
    before = s[m.start() - 1] if m.start() > 0 else "\n"
    after = s[m.end()] if m.end() < len(s) else "\n"
    if before == "\n" or after == "\n" or after in ",.!?;:)]\"'":
        return ""
    return " "


_MD_LINK_TARGET = re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))*\)")
_MD_CODE_FENCE = re.compile(r"`{3,}[\w+-]*")
_MD_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_MD_BULLET = re.compile(r"^[ \t]*(?:[-*+•·]|>)[ \t]+", re.MULTILINE)
_MD_INLINE = re.compile(r"\*+|`+|~~|[\[\]•]")


def _strip_markdown(text: str) -> str:
    text = _MD_LINK_TARGET.sub("", text)  # [label](url) -> [label  (brackets go below)
    text = _MD_CODE_FENCE.sub("", text)
    text = _MD_HEADER.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_INLINE.sub("", text)
    return _EMOJI_RE.sub(_emoji_sub, text)


# --------------------------------------------------------------------------- emails, URLs

_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_TLDS = (
    "com|org|net|io|co|us|uk|ai|dev|app|info|biz|gov|edu|me|ly|ca|de|fr|eu|tv|shop|store|"
    "online|site|help"
)
_URL_RE = re.compile(
    r"(?<![\w@.])(?:(?:https?://)(?:www\.)?|www\.)?"
    rf"(?:(?:https?://|www\.)[^\s<>\"'/]+|[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS}))"
    r"(?![\w@])(?:[/?#][^\s<>\"']*[^\s<>\"'.,!?;:)\]])?/?",
    re.IGNORECASE,
)


def _speak_address_part(part: str) -> str:
    """Spell out the symbols (and digits) of an email local part / host / path."""
    out: list[str] = []
    for piece in re.split(r"([./@_+~#=:-])", part):
        if not piece:
            continue
        if piece in _URL_SYMBOLS:
            out.append(_URL_SYMBOLS[piece])
        else:
            # letters stay as a word, digit runs are read one by one
            for sub in re.split(r"(\d+)", piece):
                if sub.isdigit():
                    out.append(digits_to_words(sub))
                elif sub:
                    out.append(sub)
    return " ".join(out)


def _email_sub(m: re.Match[str]) -> str:
    local, _, domain = m.group(0).partition("@")
    return f"{_speak_address_part(local)} at {_speak_address_part(domain.lower())}"


def _url_sub(m: re.Match[str]) -> str:
    url = m.group(0)
    url = re.sub(r"^https?://", "", url, flags=re.IGNORECASE)
    url = re.sub(r"^www\.", "", url, flags=re.IGNORECASE)
    url = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    host, slash, path = url.partition("/")
    spoken = _speak_address_part(host.lower())
    if slash and path:
        spoken += " slash " + _speak_address_part(path)
    return spoken


# --------------------------------------------------------------------------- dates

_ISO_DATE_RE = re.compile(
    r"(?<![\w./-])(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"(?![\w/-]|\.\d)"
)
_US_DATE_RE = re.compile(r"(?<![\w./-])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/]|\.\d)")
_SHORT_DATE_RE = re.compile(r"(?<![\w./$-])(\d{1,2})/(\d{1,2})(?![\w/%]|\.\d)")
_FRACTIONS = {
    "1/2": "one half", "1/3": "one third", "2/3": "two thirds", "1/4": "one quarter",
    "3/4": "three quarters", "24/7": "twenty-four seven",
}  # fmt: skip
_MONTH_DAY_RE = re.compile(
    rf"\b(?P<mon>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?![\w:]|\.\d)"
    r"(?:,?\s+(?P<y>\d{4})(?![\w:]|\.\d))?"
)
_DAY_MONTH_RE = re.compile(
    rf"(?<![\w.,$])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH_RE})\b"
    r"(?:\.?,?\s+(?P<y>\d{4})(?![\w:]|\.\d))?"
)
_WEEKDAY_RANGE_RE = re.compile(
    r"\b(Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\.?\s?[-–—]\s?(Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\b\.?"
)


def _date_words(month: int, day: int, year: int | None) -> str:
    out = f"{_MONTHS[month - 1]} {ordinal_words(day)}"
    if year is not None:
        out += f", {year_to_words(year)}"
    return out


def _valid_date(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _iso_sub(m: re.Match[str]) -> str:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not _valid_date(month, day):
        return m.group(0)
    out = _date_words(month, day, year)
    if m.group(4):
        out += " at " + _time_words(int(m.group(4)), int(m.group(5)), None, clock24=True)
    return out


def _us_date_sub(m: re.Match[str]) -> str:
    a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
    year = int(y) + 2000 if len(y) == 2 else int(y)
    month, day = (a, b) if a <= 12 else (b, a)
    if not _valid_date(month, day):
        return m.group(0)
    return _date_words(month, day, year)


def _short_date_sub(m: re.Match[str]) -> str:
    if m.group(0) in _FRACTIONS:
        return _FRACTIONS[m.group(0)]
    a, b = int(m.group(1)), int(m.group(2))
    month, day = (a, b) if a <= 12 else (b, a)
    if not _valid_date(month, day):
        return m.group(0)
    return _date_words(month, day, None)


def _month_day_sub(m: re.Match[str]) -> str:
    day = int(m.group("d"))
    month = _MONTH_LOOKUP[m.group("mon").lower()]
    if not 1 <= day <= 31:
        return m.group(0)
    year = int(m.group("y")) if m.group("y") else None
    return _date_words(month, day, year)


def _weekday_range_sub(m: re.Match[str]) -> str:
    return f"{_WEEKDAYS[m.group(1).lower()]} to {_WEEKDAYS[m.group(2).lower()]}"


# --------------------------------------------------------------------------- times


def _time_words(hour: int, minute: int, meridiem: str | None, *, clock24: bool) -> str:
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
        words += " " + (f"oh {_ONES[minute]}" if minute < 10 else number_to_words(minute))
    elif meridiem is None:
        words += " o'clock"
    return f"{words} {meridiem}" if meridiem else words


def _time_pattern(i: int) -> str:
    return (
        rf"(?:(?P<h{i}>[01]?\d|2[0-3]):(?P<m{i}>[0-5]\d)(?::(?P<s{i}>[0-5]\d))?|(?P<hb{i}>1[0-2]|0?\d))"
        rf"(?:\s?(?P<ap{i}>[AaPp])(?P<apm{i}>\.\s?[Mm]\.|\.?\s?[Mm])(?![A-Za-z]))?"
    )


_TIME_RANGE_RE = re.compile(
    rf"(?<![\w:.$/,-]){_time_pattern(1)}\s?(?:[-–—]|to)\s?{_time_pattern(2)}(?![\w:]|\.\d)"
)
_TIME_RE = re.compile(rf"(?<![\w:.$/,-]){_time_pattern(1)}(?![\w:]|\.\d)")


def _parse_time(m: re.Match[str], i: int) -> tuple[int, int, str | None, bool, bool] | None:
    """-> (hour, minute, meridiem, clock24, has_minutes) or None when not a time."""
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
        return _keep_sentence_period(m)
    return ""


def _time_sub(m: re.Match[str]) -> str:
    t = _parse_time(m, 1)
    if t is None:
        return m.group(0)
    hour, minute, meridiem, clock24, has_minutes = t
    if not has_minutes and meridiem is None:
        return m.group(0)  # a bare number, not a time
    if not has_minutes and hour == 0:
        return m.group(0)
    return _time_words(hour, minute, meridiem, clock24=clock24) + _meridiem_suffix(m, 1)


def _time_range_sub(m: re.Match[str]) -> str:
    t1, t2 = _parse_time(m, 1), _parse_time(m, 2)
    if t1 is None or t2 is None:
        return m.group(0)
    h1, m1, ap1, c1, has1 = t1
    h2, m2, ap2, c2, has2 = t2
    if not (has2 or ap2):
        return m.group(0)  # "3-4" or "9-5": handled as a number range later
    if not has1 and h1 == 0:
        return m.group(0)
    if ap1 is None and ap2 is not None and not c1 and 1 <= h1 <= 12 and not (h1 == 12 and not m1):
        # "9-11am" / "9:30-10:30 AM": the first time shares the written meridiem
        first = _time_words(h1, m1, None, clock24=False).removesuffix(" o'clock")
    else:
        first = _time_words(h1, m1, ap1, clock24=c1)
    second = _time_words(h2, m2, ap2, clock24=c2)
    return f"{first} to {second}" + _meridiem_suffix(m, 2)


_MERIDIEM_DASH_RE = re.compile(r"\b(AM|PM|noon|midnight)\s?[-–—]\s?(?=\w)")

# --------------------------------------------------------------------------- phone numbers

_INTL_PHONE_RE = re.compile(r"(?<![\w+])\+\d[\d .()-]{6,22}\d(?![\w])")
_NANP_PHONE_RE = re.compile(
    r"(?<![\w+.-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]?\d{4}"
    r"(?![\w-]|\.\d)"
)
_LOCAL_PHONE_RE = re.compile(r"(?<![\w+.$,-])[2-9]\d{2}-\d{4}(?![\w-]|\.\d)")

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
        for size in _group_sizes(len(national)):
            groups.append(national[i : i + size])
            i += size
    parts = [digits_to_words(g) for g in groups if g]
    if country:
        parts.insert(0, "plus " + digits_to_words(country))
    return ", ".join(parts)


def _intl_phone_sub(m: re.Match[str]) -> str:
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


def _nanp_phone_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    if raw.count("(") != raw.count(")"):
        return raw
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11:
        digits = digits[1:]
    return _phone_words(None, [digits])


def _local_phone_sub(m: re.Match[str]) -> str:
    a, b = m.group(0).split("-")
    return f"{digits_to_words(a)}, {digits_to_words(b)}"


# --------------------------------------------------------------------------- reference numbers

_ID_KEYWORDS = (
    "order", "ticket", "booking", "confirmation", "reference", "ref", "case", "invoice",
    "tracking", "reservation", "claim", "account", "policy", "receipt", "transaction",
    "member", "membership", "customer",
)  # fmt: skip
_ID_MARKERS = ("number", "no", "num", "code", "id")
_ID_RE = re.compile(
    rf"\b(?P<kw>{'|'.join(_ID_KEYWORDS)})"
    r"(?P<marker>(?:\s+(?P<word>number|no\.|num\.?|code|id)(?![\w]))?(?:\s+is)?(?:\s*[#:])?)"
    r"\s*(?<=[\s#:])(?P<id>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?![\w-])",
    re.IGNORECASE,
)
_ENDING_IN_RE = re.compile(r"\b(ending in|ends in|ending with)\s+(\d{2,})\b", re.IGNORECASE)
_BARE_CODE_RE = re.compile(
    r"(?<![\w-])(?=[A-Z0-9-]*[A-Z])(?=(?:[A-Z-]*\d){2})[A-Z0-9]+(?:-[A-Z0-9]+)*(?![\w-])"
)


def _id_sub(m: re.Match[str]) -> str:
    ident = m.group("id")
    marker = m.group("marker")
    marked = bool(marker.strip()) and marker.strip().lower() != "is"
    if not any(c.isdigit() for c in ident):
        return m.group(0)
    if ident.isdigit() and len(ident) < 5 and not marked:
        return m.group(0)  # "order 2 pizzas", "in case 3 people"
    if len(re.sub(r"\W", "", ident)) < 3 and ident.isdigit():
        return m.group(0)  # "order #7" -> "order number seven" later
    words = [m.group("kw")]
    if m.group("word"):
        word = m.group("word").lower().rstrip(".")
        words.append({"no": "number", "num": "number", "id": "ID"}.get(word, word))
    if re.search(r"\bis\b", marker, re.IGNORECASE):
        words.append("is")
    words.append(_spell(ident))
    return " ".join(words)


def _bare_code_sub(m: re.Match[str]) -> str:
    code = m.group(0)
    alnum = code.replace("-", "")
    if len(alnum) < 4 or re.search(r"[A-Z]{4}", alnum):
        return code  # "B12", "COVID-19"
    return _spell(code)


# --------------------------------------------------------------------------- money

_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:(?P<sk{i}>[kKMB]|bn)\b|\s?(?P<sw{i}>thousand|million|billion|trillion)\b)"
_MONEY_SYMBOL_RE = re.compile(
    r"(?<![\w$€£¥])(?P<sym>US\$|\$|€|£|¥)\s?"
    rf"(?P<a1>{_AMOUNT})(?![\d])(?:{_SCALE.format(i=1)})?"
    rf"(?:\s?[-–—]\s?(?:US\$|\$|€|£|¥)?(?P<a2>{_AMOUNT})(?![\d])(?:{_SCALE.format(i=2)})?)?"
)
_MONEY_CODE_BEFORE_RE = re.compile(
    rf"\b(?P<code>USD|EUR|GBP|CAD|AUD|JPY)\s?(?P<a1>{_AMOUNT})(?![\d])(?:{_SCALE.format(i=1)})?"
)
_MONEY_AFTER_RE = re.compile(
    rf"(?<![\w.,])(?P<a1>{_AMOUNT})(?:{_SCALE.format(i=1)})?\s?(?P<code>USD|EUR|GBP|CAD|AUD|JPY|€|£)(?![\w])"
)


def _money_words(amount: str, currency: str, scale: str | None) -> str:
    singular, plural, sub_singular, sub_plural = _CURRENCIES[currency]
    amount = amount.replace(",", "")
    if scale:
        return f"{_decimal_words(amount)} {_SCALE_WORDS[scale]} {plural}"
    whole, _, frac = amount.partition(".")
    if (frac and len(frac) > 2) or (frac and sub_singular is None):
        return f"{_decimal_words(amount)} {plural}"
    n = int(whole or "0")
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if n or not cents:
        parts.append(f"{number_to_words(n)} {singular if n == 1 else plural}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub_singular if cents == 1 else sub_plural}")
    return " and ".join(parts)


def _scale(m: re.Match[str], i: int) -> str | None:
    return m.group(f"sk{i}") or m.group(f"sw{i}")


def _money_symbol_sub(m: re.Match[str]) -> str:
    currency = _SYMBOL_CODES[m.group("sym")]
    first = _money_words(m.group("a1"), currency, _scale(m, 1))
    if m.group("a2") is None:
        return first
    return f"{first} to {_money_words(m.group('a2'), currency, _scale(m, 2))}"


def _money_code_sub(m: re.Match[str]) -> str:
    code = m.group("code")
    currency = {"€": "EUR", "£": "GBP"}.get(code, code)
    return _money_words(m.group("a1"), currency, _scale(m, 1))


_PER_RE = re.compile(rf"(?<=[\w%)])\s?/\s?(?P<u>{'|'.join(_PER_UNITS)})\b")

# --------------------------------------------------------------------------- other numbers

_PERCENT_RE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?%")
_DEGREE_RE = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)\s?°(?:\s?(?P<u>[FC])(?![A-Za-z]))?")
_UNIT_RE = re.compile(rf"(?<![\w.,])(\d+(?:\.\d+)?)\s?(?P<u>{'|'.join(_UNITS)})\b")
_ORDINAL_RE = re.compile(r"(?<![\w.,])(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_HASH_NUMBER_RE = re.compile(r"(?:#|\bNo\.)\s?(?=\d)")
_DOTTED_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w]|\.\d)")
_COMMA_NUMBER_RE = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w]|[.,]\d)")
_DECIMAL_RE = re.compile(r"(?<![\w.,])\d+\.\d+(?![\w]|[.,]\d)")
_NUMBER_RANGE_RE = re.compile(
    r"(?<![\w.,:/$#-])(\d{1,4})\s?[-–—]\s?(\d{1,4})(?P<pct>\s?%)?(?![\w:/-]|[.,]\d)"
)
_INTEGER_RE = re.compile(r"(?<![\w.,])\d+(?![\w]|[.,]\d)")


def _percent_sub(m: re.Match[str]) -> str:
    return f"{_decimal_words(m.group(1))} percent"


def _degree_sub(m: re.Match[str]) -> str:
    unit = {"F": " Fahrenheit", "C": " Celsius"}.get(m.group("u") or "", "")
    noun = "degree" if m.group(1) == "1" else "degrees"
    return f"{_decimal_words(m.group(1))} {noun}{unit}"


def _unit_sub(m: re.Match[str]) -> str:
    singular, plural = _UNITS[m.group("u")]
    return f"{_decimal_words(m.group(1))} {singular if m.group(1) == '1' else plural}"


def _range_sub(m: re.Match[str]) -> str:
    out = f"{_integer_words(m.group(1))} to {_integer_words(m.group(2))}"
    return out + (" percent" if m.group("pct") else "")


# --------------------------------------------------------------------------- abbreviations

_STREET_NUMBERED_RE = re.compile(
    r"(?<![\w.,$-])(?P<num>\d{1,5})(?P<pre>\s+[A-Z][\w']*\s+)(?P<abbr>St|Ave|Blvd|Rd|Ln|Ct|Hwy|Pkwy|Dr)"
    r"(?P<dot>\.)?(?![\w'])"
)
_STREET_RE = re.compile(
    r"(?P<pre>(?<=[\w,] )[A-Z][\w']*\s+)(?P<abbr>St|Ave|Blvd|Rd|Ln|Ct|Hwy|Pkwy)(?P<dot>\.)"
)
_TITLE_RE = re.compile(r"\b(?P<abbr>(?:Dr|Mr|Mrs|Ms|Prof)\.?|St\.)(?=\s+[A-Z])")
_DRIVE_RE = re.compile(r"(?P<pre>(?<=[\w,] )[A-Z][\w']*\s+)(?P<abbr>Dr)(?P<dot>\.)")
_SIMPLE_ABBREVIATIONS = [
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
_ETC_RE = re.compile(r"\betc\.", re.IGNORECASE)
_SUFFIX_RE = re.compile(r"(?<=\w),?\s(?P<abbr>Jr|Sr)\.")
_AMPERSAND_RE = re.compile(r"\s*&\s*")


def house_number_words(s: str) -> str:
    """House numbers in pairs: 123 -> "one twenty-three", 1600 -> "sixteen hundred"."""
    n = int(s)
    if len(s) == 3 and n % 100:
        head, rest = divmod(n, 100)
        tail = f"oh {_ONES[rest]}" if rest < 10 else number_to_words(rest)
        return f"{_ONES[head]} {tail}"
    if len(s) == 4:
        return year_to_words(n)
    return _integer_words(s)


def _street_sub(m: re.Match[str]) -> str:
    word = _STREET_SUFFIXES[m.group("abbr").lower()]
    dot = _keep_sentence_period(m) if m.group("dot") else ""
    number = house_number_words(m.group("num")) if "num" in m.re.groupindex else ""
    return f"{number}{m.group('pre')}{word}{dot}"


def _title_sub(m: re.Match[str]) -> str:
    return _TITLES[m.group("abbr").rstrip(".").lower()]


def _suffix_sub(m: re.Match[str]) -> str:
    word = "Junior" if m.group("abbr") == "Jr" else "Senior"
    return f" {word}{_keep_sentence_period(m)}"


def _etc_sub(m: re.Match[str]) -> str:
    return "et cetera" + _keep_sentence_period(m)


_CLEANUP_RE = re.compile(r"#+|(?<!\w)_{1,3}(?=\w)|(?<=\w)_{1,3}(?!\w)")

# --------------------------------------------------------------------------- the pipeline

_RULES: list[tuple[re.Pattern[str], object]] = [
    # addresses before anything reads their digits and dots
    (_EMAIL_RE, _email_sub),
    (_URL_RE, _url_sub),
    # dates
    (_ISO_DATE_RE, _iso_sub),
    (_US_DATE_RE, _us_date_sub),
    (_MONTH_DAY_RE, _month_day_sub),
    (_DAY_MONTH_RE, _month_day_sub),
    (_WEEKDAY_RANGE_RE, _weekday_range_sub),
    # identifiers before phone numbers and plain digits
    (_ID_RE, _id_sub),
    (_ENDING_IN_RE, lambda m: f"{m.group(1)} {digits_to_words(m.group(2))}"),
    (_INTL_PHONE_RE, _intl_phone_sub),
    (_NANP_PHONE_RE, _nanp_phone_sub),
    (_LOCAL_PHONE_RE, _local_phone_sub),
    # money and times
    (_MONEY_SYMBOL_RE, _money_symbol_sub),
    (_MONEY_CODE_BEFORE_RE, _money_code_sub),
    (_MONEY_AFTER_RE, _money_code_sub),
    (_PER_RE, lambda m: f" per {_PER_UNITS[m.group('u')]}"),
    (_TIME_RANGE_RE, _time_range_sub),
    (_TIME_RE, _time_sub),
    (_MERIDIEM_DASH_RE, lambda m: f"{m.group(1)} to "),
    (_SHORT_DATE_RE, _short_date_sub),
    (_BARE_CODE_RE, _bare_code_sub),
    # streets and titles before "No." / numbers lose their neighbours
    (_STREET_NUMBERED_RE, _street_sub),
    (_STREET_RE, _street_sub),
    (_TITLE_RE, _title_sub),
    (_DRIVE_RE, _street_sub),
    (_SUFFIX_RE, _suffix_sub),
    # other numbers
    (_NUMBER_RANGE_RE, _range_sub),
    (_PERCENT_RE, _percent_sub),
    (_DEGREE_RE, _degree_sub),
    (_UNIT_RE, _unit_sub),
    (_ORDINAL_RE, lambda m: ordinal_words(int(m.group(1)))),
    (_HASH_NUMBER_RE, lambda m: "number "),
    (_DOTTED_RE, lambda m: " dot ".join(_integer_words(p) for p in m.group(0).split("."))),
    (_COMMA_NUMBER_RE, lambda m: _decimal_words(m.group(0))),
    (_DECIMAL_RE, lambda m: _decimal_words(m.group(0))),
    (_INTEGER_RE, lambda m: _integer_words(m.group(0))),
    # words
    (_ETC_RE, _etc_sub),
    (_AMPERSAND_RE, lambda m: " and "),
    (_CLEANUP_RE, lambda m: ""),
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
    text = _strip_markdown(text)
    for pattern, word in _SIMPLE_ABBREVIATIONS:
        text = pattern.sub(word, text)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)  # type: ignore[arg-type]
    return text


# --------------------------------------------------------------------------- streaming

# Words whose rule looks at a neighbouring plain word: never cut next to them.
_TRIGGERS = frozenset(
    {*(_ID_KEYWORDS), *(_ID_MARKERS), "ending", "ends", *(_STREET_SUFFIXES), *(_TITLES),
     "jr", "sr", "etc", "apt", "ste", "approx", "vs", "ext", "dept"}
)  # fmt: skip
_PLAIN_TOKEN_RE = re.compile(r"[\"“‘']?([^\W\d_]+(?:['’-][^\W\d_]+)*)[,.!?;:\"”’']*")
_TOKEN_RE = re.compile(r"\S+")
_LEADING_WORD_RE = re.compile(r"[\"“‘'(\[{]*([^\W\d_]+)")
# characters the markdown/emoji clean-up deletes: a token made only of these disappears
_VANISHING_RE = re.compile(rf"[#*`~_\[\]>•+-]|{_EMOJI}")
_MAX_BUFFER = 600


def _is_plain(token: str) -> bool:
    m = _PLAIN_TOKEN_RE.fullmatch(token)
    return m is not None and m.group(1).lower() not in _TRIGGERS


def _safe_cut(buffer: str) -> int:
    """Index to cut ``buffer`` at so both halves normalize independently; 0 if none yet.

    A cut goes just before token i+1 when tokens i and i+1 are plain words and token i+2
    (which must be complete, i.e. followed by whitespace) is not a rule keyword: a rule that
    looks back two words from a keyword then still sees them in its own piece.
    """
    tokens = list(_TOKEN_RE.finditer(buffer))
    complete = len(tokens) if buffer[-1:].isspace() else len(tokens) - 1
    # the first token with content after each index (markup-only tokens vanish later)
    next_solid: list[int | None] = [None] * (complete + 1)
    for j in range(complete - 1, -1, -1):
        next_solid[j] = j if _VANISHING_RE.sub("", tokens[j].group(0)) else next_solid[j + 1]
    for i in range(complete - 2, -1, -1):
        c_index = next_solid[i + 2] if i + 2 <= complete else None
        if c_index is None:
            continue
        a, b, c = tokens[i].group(0), tokens[i + 1].group(0), tokens[c_index].group(0)
        if _is_plain(a) and _is_plain(b) and not _is_trigger(_VANISHING_RE.sub("", c)):
            return tokens[i + 1].start()
    if len(buffer) > _MAX_BUFFER and complete >= 2:
        return tokens[complete - 1].start()
    return 0


def _is_trigger(token: str) -> bool:
    """Does the token start with a rule keyword ("St.", "St.)", "order#12", "Ave.Park")?
    Tokens starting with a digit or symbol ("$5", "(415)") are not: rules that start there
    look back at most one character."""
    m = _LEADING_WORD_RE.match(token)
    return m is not None and m.group(1).lower() in _TRIGGERS


class SpeechTextBuffer:
    """Streaming normalizer: ``push`` chunks, get back text that is safe to speak now."""

    def __init__(self) -> None:
        self._buffer = ""

    def push(self, chunk: str) -> str:
        self._buffer += chunk
        cut = _safe_cut(self._buffer)
        if not cut:
            return ""
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return normalize_for_speech(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return normalize_for_speech(ready)


async def speech_text_transform(text: AsyncIterable[str]) -> AsyncIterator[str]:
    """LiveKit ``tts_text_transforms`` entry: normalize a streamed LLM reply for speech."""
    buffer = SpeechTextBuffer()
    async for chunk in text:
        out = buffer.push(chunk)
        if out:
            yield out
    out = buffer.flush()
    if out:
        yield out
