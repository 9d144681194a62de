"""Personal data out of text: phones, cards, emails, SSNs, dates of birth, PINs, IBANs and
street addresses, written or spoken the way a phone transcript spells them.

`redact_pii(text, context=...)` is the personal-data half of `redact()`; the tags are listed in
`agent.observability.redaction`. How it works:

1. Spoken emails ("john dot doe at gmail dot com") are found on the words themselves.
2. The text is read through `spoken_numbers.canonical`: runs of number words become digits,
   so the same rules see "my pin is twenty four sixty eight" and "my pin is 2468".
3. Each rule finds spans in that reading (labelled values first, so "PIN 4821" is a PIN and
   not part of a phone number); a span that overlaps an earlier one is dropped, and a span
   touching a run of number words takes the whole run.
4. `context` is the line the agent said just before (the call record passes it): after "What
   is your PIN?" a bare "2468" is a PIN, after "your date of birth?" a bare date is one.

Phone tags show the number the way the rest of the product does (`agent.phones.mask_phone`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date

from ..phones import mask_phone
from .spoken_numbers import Piece, canonical, canonical_text

Span = tuple[int, int, str]  # start, end (in the canonical text), replacement
Rule = Callable[[str], Iterator[Span]]

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
    r"|reservation|claim|transaction|receipt|slot)"
    r"(?:\s+(?:number|no\.?|num|id|code))?(?:\s+is)?\s*[#:]?\s*(?:(?-i:[A-Z]{1,3})[\s-]*)?$"
)


def _is_id_context(text: str, start: int) -> bool:
    """True when the number at ``start`` follows "order", "ticket #", ... (an id, not PII)."""
    return _ID_CONTEXT_RE.search(text[max(0, start - 40) : start]) is not None


# --------------------------------------------------------------------------- patterns

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
# A full date: day, month and year in any usual order; group "y" is the year.
_FULL_DATE = (
    rf"(?:(?P<y1>{_YEAR})[-/.]\d{{1,2}}[-/.]\d{{1,2}}"
    rf"|\d{{1,2}}(?P<sep>[-/])\d{{1,2}}(?P=sep)(?P<y2>{_YEAR}|\d{{2}})|\d{{1,2}}\.\d{{1,2}}\.(?P<y5>{_YEAR})"
    rf"|{_MONTH}\.?\s+(?:the\s+)?\d{{1,2}}{_ORD},?\s+(?:of\s+)?(?P<y3>{_YEAR})"
    rf"|(?:the\s+)?\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}\.?,?\s+(?:of\s+)?(?P<y4>{_YEAR}))"
)
_DATE = (
    rf"(?:{_FULL_DATE}"
    rf"|{_MONTH}\.?\s+(?:the\s+)?\d{{1,2}}{_ORD},?\s+\d{{2}}(?!\d)"  # "march 14th 85"
    rf"|(?:the\s+)?\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{2}}(?!\d)"
    rf"|{_MONTH}\.?\s+(?:the\s+)?\d{{1,2}}{_ORD}"
    rf"|(?:the\s+)?\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}"
    r"|\d{1,2}[\s/.-]\d{1,2}[\s/.-]\d{2,4}|\d{6,8}"
    rf"|{_YEAR})"
)
_DOB_LABEL = (r"born(?:\s+(?:on|in))?|date\s+of\s+birth|d\.?o\.?b\.?|birth\s*date|birthday"
              r"|birth\s+day")
_DOB_RE = re.compile(
    rf"(?i)\b(?:{_DOB_LABEL})(?:'s)?(?:\s*(?:is|was|:|-|=)\s*|\s+)(?:on\s+)?({_DATE})(?![\w/-])"
)
_FULL_DATE_RE = re.compile(rf"(?i)(?<![\w/.-]){_FULL_DATE}(?![\w/-])")
_ANY_DATE_RE = re.compile(rf"(?i)(?<![\w/.-])({_DATE})(?![\w/-])")
_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])(?<!sip:)(?<!sips:)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,}\b"
)
_TLD = r"(?:com|net|org|edu|gov|io|co|uk|us|ca|de|fr|info|biz|me|ai|app|email|mail)"
_SPOKEN_DOMAIN = (rf"[a-z0-9-]+(?:(?:\s+dot\s+|\.)[a-z0-9-]+)*?(?:\s+dot\s+|\.){_TLD}"
                  rf"(?:(?:\s+dot\s+|\.){_TLD})?\b")
_SPOKEN_AT_RE = re.compile(rf"(?i)\s+at\s+({_SPOKEN_DOMAIN})")
_LOCAL_STOP = frozenset("to is it's its at on my the and or please me email e-mail address it "
                        "mail send write use try contact reach".split())
_LOCAL_JOINERS = frozenset({"dot", "underscore", "dash", "hyphen", "plus"})
_MAX_LOCAL_WORDS = 6
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,22}(?![\w-])")
_SSN_RE = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_SSN_LABELLED_RE = re.compile(
    r"(?i)\b(?:ssn|social\s+security(?:\s+number)?|social)(?:'s)?(?:\s+(?:number|no\.?|#))?"
    r"(?:\s+is|:)?\s*(\d{9}|\d{3}[- ]\d{2}[- ]\d{4}|\d{4})(?!\d)"
)
_PIN_LABEL = (r"pin(?:\s+(?:code|number))?|passcode|pass\s+code|security\s+code|cvv2?|cvc"
              r"|verification\s+code|access\s+code|one[- ]time\s+(?:code|password)|otp")
# Words that may stand between a PIN's label and its digits ("my pin might be 2468").
_HEDGE = r"might|should|would|could|be|probably|i\s+think|think|it's|its|it|like|still"
_PIN_RE = re.compile(
    rf"(?i)\b(?:{_PIN_LABEL})(?:'s)?((?:\s*(?:is|was|:|=|#)|\s+(?:{_HEDGE}))*\s*)"
    r"(\d{3,8}|\d(?:\s\d){2,7})(?!\w)"
)
# An underscore joins a number to its neighbours in identifiers (the SIP bridge's room
# "call-_+15550001111_9VvkM…" and participant "sip_+15550001111"), so it bounds a number too.
_INTL_PHONE_RE = re.compile(r"(?<![^\W_]|\+)\+\d[\d .()-]{6,20}\d(?![^\W_])")
_NANP_PHONE_RE = re.compile(
    r"(?<![^\W_]|[+.-])(?:1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]?\d{4}(?![^\W_]|-|\.\d)"
)
_LOCAL_PHONE_RE = re.compile(r"(?<![\w+.$,/-])\d{3}-\d{4}(?![\w-]|\.\d)")
_STREET = (r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way"
           r"|place|pl|terrace|circle|parkway|pkwy|highway|hwy|square|sq|crescent|close|loop"
           r"|alley|trail|plaza")
_ADDRESS_RE = re.compile(
    rf"(?i)(?<![\w$.,:/-])\d{{1,6}}[A-Za-z]?\s+(?:[A-Za-z0-9][A-Za-z0-9'.-]*\s+){{1,3}}?"
    rf"(?:{_STREET})"
    r"\b\.?(?:\s+(?:north|south|east|west|[NSEW]{1,2})\b)?"
    r"(?:,?\s+(?:apartment|apt\.?|unit|suite|ste\.?|#)\s*[A-Za-z0-9-]+)?"
    r"|(?i:\bp\.?\s?o\.?\s+box\s+\d+)"
)
_DIGIT_RUN_RE = re.compile(r"(?<![\w.])\+?\d(?:[\d ,-]*\d)?(?![\w])")

# --------------------------------------------------------------------------- rules


def _groups(rx: re.Pattern[str], tag: str, group: int = 0) -> Rule:
    def rule(text: str) -> Iterator[Span]:
        for m in rx.finditer(text):
            yield m.start(group), m.end(group), tag

    return rule


def _old_full_dates(text: str) -> Iterator[Span]:
    """A full date at least ten years back is a date of birth, labelled or not."""
    limit = date.today().year - 10
    for m in _FULL_DATE_RE.finditer(text):
        year = next(y for y in (m.group("y1"), m.group("y2"), m.group("y3"), m.group("y4"),
                                m.group("y5")) if y)
        full = int(year) if len(year) == 4 else (2000 if int(year) <= 68 else 1900) + int(year)
        if full <= limit:
            yield m.start(), m.end(), "[DOB]"


def _ibans(text: str) -> Iterator[Span]:
    for m in _IBAN_RE.finditer(text):
        if _iban_valid(m.group(0)):
            yield m.start(), m.end(), "[IBAN]"


def _cards(text: str) -> Iterator[Span]:
    for m in _CARD_RE.finditer(text):
        raw = m.group(0)
        # the run may swallow a neighbouring number ("4111 1111 1111 1111 12/27"): find
        # the longest run of groups that is a card
        groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", raw)]
        for size in range(len(groups), 0, -1):
            found = next((s for s in range(len(groups) - size + 1) if _is_card(
                "".join(raw[a:b] for a, b in groups[s:s + size]))), None)
            if found is not None:
                yield m.start() + groups[found][0], m.start() + groups[found + size - 1][1], \
                    "[CARD]"
                break


def _intl_phones(text: str) -> Iterator[Span]:
    for m in _INTL_PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 8 <= len(digits) <= 15:
            yield m.start(), m.end(), _phone_tag(digits)


def _nanp_phones(text: str) -> Iterator[Span]:
    for m in _NANP_PHONE_RE.finditer(text):
        raw = m.group(0)
        digits = re.sub(r"\D", "", raw)
        if raw.isdigit() and not re.fullmatch(r"1?[2-9]\d{2}[2-9]\d{6}", digits):
            continue  # an unformatted 10-digit run that is no valid NANP number
        if not _is_id_context(text, m.start()):
            yield m.start(), m.end(), _phone_tag(digits)


def _local_phones(text: str) -> Iterator[Span]:
    for m in _LOCAL_PHONE_RE.finditer(text):
        if not _is_id_context(text, m.start()):
            yield m.start(), m.end(), _phone_tag(m.group(0))


_RULES: list[Rule] = [
    _groups(_DOB_RE, "[DOB]", 1),
    _groups(_SSN_LABELLED_RE, "[SSN]", 1),
    _groups(_PIN_RE, "[PIN]", 2),
    _groups(_EMAIL_RE, "[EMAIL]"),
    _ibans,
    _cards,
    _groups(_SSN_RE, "[SSN]"),
    _old_full_dates,
    _intl_phones,
    _nanp_phones,
    _local_phones,
    _groups(_ADDRESS_RE, "[ADDRESS]"),
]

# --------------------------------------------------------------------------- context

# What the agent's previous line asked for, and how a bare answer to it is tagged.
_ASKED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"(?i)\b(?:{_PIN_LABEL}|keypad)\b"), "[PIN]"),
    (re.compile(rf"(?i)\b(?:{_DOB_LABEL}|when\s+were\s+you\s+born)\b"), "[DOB]"),
    (re.compile(r"(?i)\b(?:social\s+security|ssn|social)\b"), "[SSN]"),
    (re.compile(r"(?i)\b(?:card\s+number|credit\s+card|debit\s+card|expir\w*)\b"), "[CARD]"),
    (re.compile(r"(?i)\b(?:phone\s+number|call\s+you\s+back|callback|reach\s+you|mobile"
                r"|cell)\b"), "[PHONE]"),
]
# The fewest digits a bare answer must have to count as the value asked for ("tomorrow at
# 2" after "when shall we call you back?" is no phone number).
_MIN_DIGITS = {"[PIN]": 3, "[SSN]": 4, "[CARD]": 4, "[PHONE]": 7, "[DOB]": 0}


def asked_for(context: str | None) -> str | None:
    """The tag of what `context` (the agent's previous line) asked the caller for."""
    if not context:
        return None
    return next((tag for rx, tag in _ASKED if rx.search(context)), None)


def _answers(tag: str) -> Rule:
    """Every number (or date) in a caller's answer to a question for `tag`."""
    def rule(text: str) -> Iterator[Span]:
        rx = _ANY_DATE_RE if tag == "[DOB]" else _DIGIT_RUN_RE
        for m in rx.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if len(digits) >= _MIN_DIGITS[tag]:
                yield m.start(), m.end(), _phone_tag(digits) if tag == "[PHONE]" else tag

    return rule


# --------------------------------------------------------------------------- the redactor

_TAG_RE = re.compile(r"\[(?:PHONE(?: …\d{0,4})?|CARD|EMAIL|SSN|DOB|IBAN|PIN|ADDRESS|NUMBER"
                     r"|SECRET|redacted)\]|…\d{4}")


def _spoken_emails(text: str) -> list[tuple[int, int]]:
    """ "john dot doe at gmail dot com": a domain ending in a known top-level domain after
    "at", and the words before it back to one that cannot be part of an address."""
    found = []
    for m in _SPOKEN_AT_RE.finditer(text):
        words = list(re.finditer(r"[A-Za-z0-9._'-]+", text[:m.start()]))
        start, after = None, m.start()
        for word in reversed(words[-_MAX_LOCAL_WORDS:]):
            if word.group(0).lower() in _LOCAL_STOP or text[word.end():after].strip(" "):
                break  # a stop word, or punctuation between it and the rest
            start = after = word.start()
        if start is not None:
            found.append((start, m.end(1)))
    return found


def _spoken_runs(pieces: list[Piece], offsets: list[int], text: str) -> Iterator[Span]:
    """Long numbers read out digit by digit: phones, cards, SSNs, or some other account
    number; none of them belongs in a transcript (ids after "order" etc. excepted)."""
    for piece, at in zip(pieces, offsets, strict=True):
        if not piece.spoken:
            continue
        digits = re.sub(r"\D", "", piece.canon)
        if len(digits) < 7 or _is_id_context(text, at):
            continue
        if _is_card(digits):
            tag = "[CARD]"
        elif len(digits) in (7, 10, 11) or piece.canon.startswith("+"):
            tag = _phone_tag(digits)
        elif len(digits) == 9:
            tag = "[SSN]"
        else:
            tag = "[NUMBER]"
        yield at, at + len(piece.canon), tag


def redact_pii(text: str, context: str | None = None) -> str:
    """Replace personal data in ``text`` with typed tags (see the module docstring).
    ``context``: the agent's line just before ``text``, when ``text`` is the caller's."""
    if not text:
        return text
    emails = _spoken_emails(text)
    pieces = canonical(text)
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece.canon)
    canon = canonical_text(pieces)
    if not emails and "@" not in canon and not any(ch.isdigit() for ch in canon):
        return text  # every rule below needs a digit or an "@": most log lines stop here
    protected: list[Span] = [(m.start(), m.end(), m.group(0)) for m in _TAG_RE.finditer(canon)]
    found: list[Span] = list(protected)
    rules = list(_RULES)
    asked = asked_for(context)
    if asked is not None:
        rules.append(_answers(asked))
    candidates = [span for rule in rules for span in rule(canon)]
    candidates += list(_spoken_runs(pieces, offsets, canon))
    for span in candidates:
        if all(span[1] <= s or span[0] >= e for s, e, _ in found):
            found.append(span)
    # back to the original text: a span touching a run of number words takes all of it
    spans = [(_to_original(pieces, offsets, s, e), tag) for s, e, tag in found
             if (s, e, tag) not in protected]
    spans += [((s, e), "[EMAIL]") for s, e in emails]
    out, pos = [], 0
    for (start, end), tag in sorted(spans):
        if start < pos:
            continue  # overlaps a span already written (a spoken email, usually)
        out.append(text[pos:start])
        out.append(tag)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _to_original(pieces: list[Piece], offsets: list[int], start: int, end: int
                 ) -> tuple[int, int]:
    o_start, o_end = start, end
    for piece, at in zip(pieces, offsets, strict=True):
        p_end = at + len(piece.canon)
        if at <= start < p_end or (start == p_end == at):
            o_start = piece.start if piece.spoken else piece.start + (start - at)
        if at < end <= p_end:
            o_end = piece.end if piece.spoken else piece.start + (end - at)
    return o_start, o_end
