"""Emails and URLs, read before any other rule sees their digits and dots: "jo.doe@acme.io"
-> "jo dot doe at acme dot io"; a URL loses its scheme, "www.", query and fragment, and the
rest is spoken with its symbols named and its digits read one by one."""

from __future__ import annotations

import re

from .numbers import digits_to_words
from .tables import URL_SYMBOLS

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_TLDS = (
    "com|org|net|io|co|us|uk|ai|dev|app|info|biz|gov|edu|me|ly|ca|de|fr|eu|tv|shop|store|"
    "online|site|help"
)
URL_RE = re.compile(
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
        if piece in URL_SYMBOLS:
            out.append(URL_SYMBOLS[piece])
        else:
            # letters stay as a word, digit runs are read one by one
            for sub in re.split(r"(\d+)", piece):
                if sub.isdigit():
                    out.append(digits_to_words(sub))
                elif sub:
                    out.append(sub)
    return " ".join(out)


def email_sub(m: re.Match[str]) -> str:
    local, _, domain = m.group(0).partition("@")
    return f"{_speak_address_part(local)} at {_speak_address_part(domain.lower())}"


def url_sub(m: re.Match[str]) -> str:
    url = m.group(0)
    url = re.sub(r"^https?://", "", url, flags=re.IGNORECASE)
    url = re.sub(r"^www\.", "", url, flags=re.IGNORECASE)
    url = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    host, slash, path = url.partition("/")
    spoken = _speak_address_part(host.lower())
    if slash and path:
        spoken += " slash " + _speak_address_part(path)
    return spoken
