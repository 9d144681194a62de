"""Money: "$12.50" -> "twelve dollars and fifty cents", "€5", "20 GBP", "$1.2M", "$10-$20"
(a range), and prices per unit ("$15/month" -> "fifteen dollars per month"). Amounts with
more than two decimals, or in a currency without a sub-unit, are read as decimals."""

from __future__ import annotations

import re

from .numbers import decimal_words, number_to_words
from .tables import CURRENCIES, PER_UNITS, SCALE_WORDS, SYMBOL_CODES

_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:(?P<sk{i}>[kKMB]|bn)\b|\s?(?P<sw{i}>thousand|million|billion|trillion)\b)"
MONEY_SYMBOL_RE = re.compile(
    r"(?<![\w$€£¥])(?P<sym>US\$|\$|€|£|¥)\s?"
    rf"(?P<a1>{_AMOUNT})(?![\d])(?:{_SCALE.format(i=1)})?"
    rf"(?:\s?[-–—]\s?(?:US\$|\$|€|£|¥)?(?P<a2>{_AMOUNT})(?![\d])(?:{_SCALE.format(i=2)})?)?"
)
MONEY_CODE_BEFORE_RE = re.compile(
    rf"\b(?P<code>USD|EUR|GBP|CAD|AUD|JPY)\s?(?P<a1>{_AMOUNT})(?![\d])(?:{_SCALE.format(i=1)})?"
)
MONEY_AFTER_RE = re.compile(
    rf"(?<![\w.,])(?P<a1>{_AMOUNT})(?:{_SCALE.format(i=1)})?\s?(?P<code>USD|EUR|GBP|CAD|AUD|JPY|€|£)(?![\w])"
)
PER_RE = re.compile(rf"(?<=[\w%)])\s?/\s?(?P<u>{'|'.join(PER_UNITS)})\b")


def _money_words(amount: str, currency: str, scale: str | None) -> str:
    singular, plural, sub_singular, sub_plural = CURRENCIES[currency]
    amount = amount.replace(",", "")
    if scale:
        return f"{decimal_words(amount)} {SCALE_WORDS[scale]} {plural}"
    whole, _, frac = amount.partition(".")
    if (frac and len(frac) > 2) or (frac and sub_singular is None):
        return f"{decimal_words(amount)} {plural}"
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


def money_symbol_sub(m: re.Match[str]) -> str:
    currency = SYMBOL_CODES[m.group("sym")]
    first = _money_words(m.group("a1"), currency, _scale(m, 1))
    if m.group("a2") is None:
        return first
    return f"{first} to {_money_words(m.group('a2'), currency, _scale(m, 2))}"


def money_code_sub(m: re.Match[str]) -> str:
    code = m.group("code")
    currency = {"€": "EUR", "£": "GBP"}.get(code, code)
    return _money_words(m.group("a1"), currency, _scale(m, 1))


def per_sub(m: re.Match[str]) -> str:
    return f" per {PER_UNITS[m.group('u')]}"
