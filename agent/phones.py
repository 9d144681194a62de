"""Phone numbers: the one place that parses, normalises, masks, hashes and speaks them."""

from __future__ import annotations

import hashlib
import hmac
import re

from livekit.agents import ToolError


def last_digits(number: str | None, count: int = 4) -> str | None:
    """The last `count` digits of a number, or None when it has fewer."""
    digits = re.sub(r"\D", "", number or "")
    return digits[-count:] if len(digits) >= count else None


def mask_phone(number: str | None) -> str | None:
    """`+14155550142` → `…0142`: enough to tell calls apart, not to dial.

    The only masking in the product: call records, audit rows, prompts and redacted text
    all show a number this way."""
    tail = last_digits(number)
    return f"…{tail}" if tail else None


def caller_key(number: str | None, secret: str) -> str | None:
    """A keyed hash (HMAC-SHA256) of the caller's E.164 number, stored with each call.

    It finds one caller's calls for erasure (`python -m agent.data.forget --phone`) while the
    database holds no number: without the key (CALLER_HASH_KEY, kept out of the database) the
    hash can't be reversed by trying every number."""
    e164 = normalize_caller_number(number)
    if e164 is None:
        return None
    return hmac.new(secret.encode(), e164.encode(), hashlib.sha256).hexdigest()


def without_number(text: str, number: str | None) -> str:
    """`text` with the caller's number masked: the SIP dispatch rule names each room
    `call-_<caller number>_<id>`, which the call record must not keep."""
    e164 = normalize_caller_number(number)
    masked = mask_phone(e164)
    if not e164 or not masked:
        return text
    return text.replace(e164, masked).replace(e164[1:], masked)


_NOT_A_NUMBER = ("That doesn't look like a phone number. Please say the digits, "
                 "including the area code.")


def parse_phone(text: str) -> str:
    """Spoken or typed phone number → E.164. North American 10-digit numbers get +1.

    Raises `ToolError` with one sentence the agent can say, since callers give these numbers
    to a tool; `normalize_caller_number` catches it for numbers from the SIP bridge."""
    text = text.strip()
    if len(text) > 40 or not re.fullmatch(r"[+\d\s().-]+", text):
        raise ToolError(_NOT_A_NUMBER)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") or text.startswith("00"):
        digits = digits[2:] if text.startswith("00") else digits
        e164 = "+" + digits
    elif len(digits) == 10:
        e164 = "+1" + digits
    elif len(digits) == 11 and digits.startswith("1"):
        e164 = "+" + digits
    else:
        raise ToolError("Please give the full phone number including the area code.")
    if not re.fullmatch(r"\+[1-9]\d{7,14}", e164):
        raise ToolError("That phone number has the wrong number of digits. Please check it.")
    return e164


def normalize_caller_number(number: str | None) -> str | None:
    """The SIP caller number as E.164, or None when unknown or withheld."""
    if not number:
        return None
    raw = number.strip().removeprefix("tel:").removeprefix("sip:").split("@")[0]
    try:
        return parse_phone(raw)
    except ToolError:
        # Caller ID without the leading "+" (e.g. 447700900123): digits are all we have.
        digits = re.sub(r"\D", "", raw)
        return "+" + digits if re.fullmatch(r"[1-9]\d{10,14}", digits) else None


def speakable_phone(e164: str) -> str:
    """`+14155550142` → `+1 415 555 0142` (grouped so TTS reads digits)."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"+1 {e164[2:5]} {e164[5:8]} {e164[8:]}"
    d = e164[1:]
    return "+" + " ".join(d[i:i + 3] for i in range(0, len(d), 3))
