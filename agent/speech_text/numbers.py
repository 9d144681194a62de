"""Number words in pure Python: cardinals, ordinals, years, digit-by-digit reading (grouped
with pauses for long runs), decimals, and character spelling of codes. Every function returns
words only, never digits, which is what keeps ``normalize_for_speech`` idempotent."""

from __future__ import annotations

ONES = [
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
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
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
        return f"{number_to_words(century)} oh {ONES[rest]}"
    return f"{number_to_words(century)} {number_to_words(rest)}"


def digits_to_words(digits: str) -> str:
    """ "0100" -> "zero one zero zero" (non-digits are ignored)."""
    return " ".join(ONES[int(d)] for d in digits if d.isdigit())


def group_sizes(n: int) -> list[int]:
    """Pause groups for reading n digits: up to six in one breath, then threes and fours."""
    if n <= 6:
        return [n]
    groups = -(-n // 4)
    base, extra = divmod(n, groups)
    # smaller groups first: 10 digits -> 3, 3, 4 (like a phone number)
    return [base] * (groups - extra) + [base + 1] * extra


def _grouped_digits(digits: str) -> str:
    out, i = [], 0
    for size in group_sizes(len(digits)):
        out.append(digits_to_words(digits[i : i + size]))
        i += size
    return ", ".join(out)


def decimal_words(s: str) -> str:
    """ "1,234.05" -> "one thousand two hundred thirty-four point zero five"."""
    s = s.replace(",", "")
    whole, _, frac = s.partition(".")
    words = number_to_words(int(whole or "0"))
    if frac:
        words += " point " + digits_to_words(frac)
    return words


def integer_words(s: str) -> str:
    """A bare integer as a person reads it (see the package notes): leading zeros and runs of
    five or more digit by digit, 1900-2099 as a year, anything else as a number."""
    if len(s) > 1 and s.startswith("0"):
        return _grouped_digits(s)
    if len(s) >= 5:
        return _grouped_digits(s)
    n = int(s)
    if len(s) == 4 and 1900 <= n <= 2099:
        return year_to_words(n)
    return number_to_words(n)


def spell(chars: str) -> str:
    """ "BK-7731" -> "B K seven seven three one"."""
    out = []
    for ch in chars:
        if ch.isdigit():
            out.append(ONES[int(ch)])
        elif ch.isalpha():
            out.append(ch.upper())
    return " ".join(out)
