"""Personal data out of text: phones, cards, emails, SSNs, dates of birth, IBANs and PINs.

`redact_pii` is the personal-data half of `redact()`; the tags and what is deliberately left
alone are listed in `agent.observability.redaction`. Phone tags show the number the way the
rest of the product does, through `agent.phones.mask_phone`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..phones import mask_phone

# --------------------------------------------------------------------------- checks


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _iban_valid(iban: str) -> bool:
    iban = iban.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _phone_tag(number: str) -> str:
    # Every caller matched at least seven digits, so mask_phone always has a tail to show.
    return f"[PHONE {mask_phone(number) or '…'}]"


_ID_CONTEXT_RE = re.compile(
    r"(?i)\b(?:order|ticket|booking|confirmation|reference|ref|invoice|tracking|case"
    r"|reservation|claim|transaction|receipt)"
    r"(?:\s+(?:number|no\.?|num|id|code))?(?:\s+is)?\s*[#:]?\s*(?:(?-i:[A-Z]{1,3})[\s-]*)?$"
)


def _is_id_context(text: str, start: int) -> bool:
    """True when the number at ``start`` follows "order", "ticket #", ... (an id, not PII)."""
    return _ID_CONTEXT_RE.search(text[max(0, start - 40) : start]) is not None


# --------------------------------------------------------------------------- PII patterns

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_DW = "(?:" + "|".join(_DIGIT_WORDS) + ")"
_SPOKEN_DIGITS_RE = re.compile(rf"(?i)\b{_DW}(?:[\s,-]+{_DW}){{6,}}\b")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?"
    r"|(?:19|20)\d{2})"
)
_DOB_RE = re.compile(
    r"(?i)\b(born(?:\s+(?:on|in))?|date\s+of\s+birth|d\.?o\.?b\.?|birth\s*date|birthday)"
    rf"(\s*(?:is|was|:|-|=)?\s*)({_DATE})(?![\w/-])"
)
_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])(?<!sip:)(?<!sips:)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,}\b"
)
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,22}(?![\w-])")
_SSN_RE = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_SSN_LABELLED_RE = re.compile(
    r"(?i)\b(ssn|social\s+security(?:\s+number)?|social)((?:\s+(?:number|no\.?|#))?"
    r"(?:\s+is|:)?\s*)(\d{9}|\d{3}[- ]\d{2}[- ]\d{4})(?!\d)"
)
_PIN_RE = re.compile(
    r"(?i)\b(pin(?:\s+(?:code|number))?|passcode|pass\s+code|security\s+code|cvv2?|cvc"
    r"|verification\s+code|access\s+code|one[- ]time\s+(?:code|password)|otp)"
    rf"(\s*(?:is|was|:|=|#)?\s*)(\d{{3,8}}|{_DW}(?:[\s,-]+{_DW}){{2,7}})(?![\w])"
)
_INTL_PHONE_RE = re.compile(r"(?<![\w+])\+\d[\d .()-]{6,20}\d(?![\w])")
_NANP_PHONE_RE = re.compile(
    r"(?<![\w+.-])(?:1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}(?![\w-]|\.\d)"
)
_LOCAL_PHONE_RE = re.compile(r"(?<![\w+.$,/-])\d{3}-\d{4}(?![\w-]|\.\d)")


def _card_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    groups = re.split(r"[ -]", raw)
    # the run may swallow a neighbouring number ("4111 1111 1111 1111 12/27"): try the
    # longest run of groups that is a card
    for size in range(len(groups), 0, -1):
        for start in range(len(groups) - size + 1):
            if _is_card("".join(groups[start : start + size])):
                before = " ".join(groups[:start])
                after = " ".join(groups[start + size :])
                return " ".join(p for p in (before, "[CARD]", after) if p)
    return raw


def _intl_phone_sub(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    if not 8 <= len(digits) <= 15:
        return m.group(0)
    return _phone_tag(digits)


def _nanp_phone_sub(m: re.Match[str]) -> str:
    raw = m.group(0)
    digits = re.sub(r"\D", "", raw)
    if raw.isdigit() and not re.fullmatch(r"1?[2-9]\d{2}[2-9]\d{6}", digits):
        return raw  # an unformatted 10-digit run that is no valid NANP number
    if _is_id_context(m.string, m.start()):
        return raw
    return _phone_tag(digits)


def _local_phone_sub(m: re.Match[str]) -> str:
    if _is_id_context(m.string, m.start()):
        return m.group(0)
    return _phone_tag(m.group(0))


def _spoken_digits_sub(m: re.Match[str]) -> str:
    digits = "".join(_DIGIT_WORDS[w.lower()] for w in re.findall(r"[A-Za-z]+", m.group(0)))
    if _is_card(digits):
        return "[CARD]"
    if len(digits) in (7, 10, 11) and not _is_id_context(m.string, m.start()):
        return _phone_tag(digits)
    return m.group(0)


_PII_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (_DOB_RE, lambda m: f"{m.group(1)}{m.group(2)}[DOB]"),
    (_SSN_LABELLED_RE, lambda m: f"{m.group(1)}{m.group(2)}[SSN]"),
    (_PIN_RE, lambda m: f"{m.group(1)}{m.group(2)}[PIN]"),
    (_IBAN_RE, lambda m: "[IBAN]" if _iban_valid(m.group(0)) else m.group(0)),
    (_CARD_RE, _card_sub),
    (_SSN_RE, "[SSN]"),
    (_INTL_PHONE_RE, _intl_phone_sub),
    (_NANP_PHONE_RE, _nanp_phone_sub),
    (_LOCAL_PHONE_RE, _local_phone_sub),
    (_EMAIL_RE, "[EMAIL]"),
    (_SPOKEN_DIGITS_RE, _spoken_digits_sub),
]


def redact_pii(text: str) -> str:
    """Replace personal data in ``text`` with typed tags, rule by rule in a fixed order
    (labelled values first, so "PIN 4821" is a PIN and not part of a phone number)."""
    for pattern, repl in _PII_RULES:
        text = pattern.sub(repl, text)
    return text
