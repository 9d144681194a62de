"""Reference numbers, spelled character by character with the letters upper-cased so the voice
spells them: "order #A12345" -> "order A one two three four five", "ticket T-1043", bare codes
such as "BK-7731", and "ending in 4242" read digit by digit. A "#" after the keyword is
dropped; small numbers after a keyword ("order 2 pizzas") are left to the number rules."""

from __future__ import annotations

import re

from .numbers import digits_to_words, spell

ID_KEYWORDS = (
    "order", "ticket", "booking", "confirmation", "reference", "ref", "case", "invoice",
    "tracking", "reservation", "claim", "account", "policy", "receipt", "transaction",
    "member", "membership", "customer",
)  # fmt: skip
ID_MARKERS = ("number", "no", "num", "code", "id")
ID_RE = re.compile(
    rf"\b(?P<kw>{'|'.join(ID_KEYWORDS)})"
    r"(?P<marker>(?:\s+(?P<word>number|no\.|num\.?|code|id)(?![\w]))?(?:\s+is)?(?:\s*[#:])?)"
    r"\s*(?<=[\s#:])(?P<id>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?![\w-])",
    re.IGNORECASE,
)
ENDING_IN_RE = re.compile(r"\b(ending in|ends in|ending with)\s+(\d{2,})\b", re.IGNORECASE)
BARE_CODE_RE = re.compile(
    r"(?<![\w-])(?=[A-Z0-9-]*[A-Z])(?=(?:[A-Z-]*\d){2})[A-Z0-9]+(?:-[A-Z0-9]+)*(?![\w-])"
)


def id_sub(m: re.Match[str]) -> str:
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
    words.append(spell(ident))
    return " ".join(words)


def ending_in_sub(m: re.Match[str]) -> str:
    return f"{m.group(1)} {digits_to_words(m.group(2))}"


def bare_code_sub(m: re.Match[str]) -> str:
    code = m.group(0)
    alnum = code.replace("-", "")
    if len(alnum) < 4 or re.search(r"[A-Z]{4}", alnum):
        return code  # "B12", "COVID-19"
    return spell(code)
