"""Phone numbers: the one place that parses, normalises, masks, hashes and speaks them.

Parsing and validation are Google's libphonenumber (the `phonenumbers` package), not
hand-written patterns: it knows national prefixes ("+44 (0) 7700 900123"), every script's
digits, each country's number lengths and which ranges are premium-rate or otherwise special.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import phonenumbers
from livekit.agents import ToolError
from phonenumbers import PhoneNumberType, ValidationResult
from phonenumbers import timezone as phone_timezones

# Bare national numbers ("415 555 0142") are read as North American: the business's market.
DEFAULT_REGION = "US"

# Numbers the agent never calls or offers to call back: they cost the business money, reach
# no person, or are not a subscriber line at all.
_NOT_DIALLABLE = frozenset({
    PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL, PhoneNumberType.PAGER, PhoneNumberType.PERSONAL_NUMBER,
})


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
    hash can't be reversed by trying every number. Any spelling of the number gives the same
    key (`erasure_e164`): the operator's "(415) 555-0142" finds the bridge's "+14155550142"."""
    e164 = erasure_e164(number)
    if e164 is None:
        return None
    return hmac.new(secret.encode(), e164.encode(), hashlib.sha256).hexdigest()


def without_number(text: str, number: str | None) -> str:
    """`text` with the caller's number masked: the SIP dispatch rule names each room
    `call-_<caller number>_<id>`, which the call record must not keep."""
    e164 = erasure_e164(number)
    masked = mask_phone(e164)
    if not number or not e164 or not masked:
        return text
    for form in sorted({e164, e164[1:], number.strip()}, key=len, reverse=True):
        text = text.replace(form, masked)
    return text


def erasure_e164(number: str | None) -> str | None:
    """The number as E.164 however it is written, national numbers read as North American;
    None if it is none. For finding and masking a caller's data only: an account is matched
    on the strict E.164 caller ID alone (`normalize_caller_number`)."""
    strict = normalize_caller_number(number)
    if strict is not None or not number:
        return strict
    raw = number.removeprefix("tel:").removeprefix("sips:").removeprefix("sip:")
    try:
        return parse_phone(raw.split("@")[0].split(";")[0])
    except ToolError:
        return None


_NOT_A_NUMBER = ("That doesn't look like a phone number. Please say the digits, "
                 "including the area code.")
_INCOMPLETE = "Please give the full phone number including the area code."
_NOT_DIALLABLE_SENTENCE = ("That number is a premium-rate or special service number, which "
                           "we can't call. Please give a regular phone number.")


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str) -> phonenumbers.PhoneNumber:
    """libphonenumber's reading of `text`, complete and without an extension, or ToolError."""
    if len(text) > 40:
        raise ToolError(_NOT_A_NUMBER)
    # Full-width forms ("＋１") and any script's digits become ASCII first, so the checks
    # below see what will be dialled.
    text = unicodedata.normalize("NFKC", text)
    text = "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)
    if not re.fullmatch(r"[+\d\s().-]+", text):
        raise ToolError(_NOT_A_NUMBER)
    if text.startswith("00"):  # the international prefix most of the world dials
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ToolError(_NOT_A_NUMBER) from None
    if number.extension:
        raise ToolError(_NOT_A_NUMBER)
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in (ValidationResult.IS_POSSIBLE_LOCAL_ONLY, ValidationResult.TOO_SHORT):
        raise ToolError(_INCOMPLETE)
    if reason != ValidationResult.IS_POSSIBLE:
        raise ToolError("That phone number has the wrong number of digits. Please check it.")
    return number


def parse_phone(text: str) -> str:
    """A number as a caller says or types it → E.164. National numbers are North American.

    Raises `ToolError` with one sentence the agent can say, since callers give these numbers
    to a tool."""
    return _e164(_parse(text.strip()))


def parse_diallable(text: str) -> str:
    """`parse_phone`, refusing numbers the business must not call (premium-rate, shared-cost,
    pagers, voicemail access, personal-number redirects): for callbacks and outbound calls."""
    number = _parse(text.strip())
    if phonenumbers.number_type(number) in _NOT_DIALLABLE:
        raise ToolError(_NOT_DIALLABLE_SENTENCE)
    return _e164(number)


def strict_e164(text: str | None) -> str | None:
    """`text` if it is exactly an E.164 number ("+" and digits, nothing around them), as
    ASCII E.164; None otherwise. For numbers machines give us (the SIP bridge, a dispatch):
    no national guessing, no whitespace, no extension."""
    if not text or not re.fullmatch(r"\+\d{7,15}", text):
        return None
    try:
        return parse_phone(text)
    except ToolError:
        return None


def diallable_e164(text: str | None) -> str | None:
    """`strict_e164`, and a number the business may call (see `parse_diallable`)."""
    number = strict_e164(text)
    if number is None:
        return None
    try:
        return parse_diallable(number)
    except ToolError:
        return None


def normalize_caller_number(number: str | None) -> str | None:
    """The caller's number as E.164, or None when unknown, withheld or not E.164.

    `number` is the SIP bridge's `sip.phoneNumber` attribute: the user part of the caller's
    URI. Only an E.164 user part ("+14155550142", optionally as `tel:`/`sip:...@host`)
    counts: a national or digits-only caller ID is ambiguous across countries, so it
    matches no account. Caller ID is a hint, never proof of identity."""
    if not number:
        return None
    raw = number.removeprefix("tel:").removeprefix("sips:").removeprefix("sip:")
    return strict_e164(raw.split("@")[0].split(";")[0])


def time_zones(e164: str) -> tuple[str, ...]:
    """The IANA time zones a number may ring in (libphonenumber's geocoding data); empty when
    the number's range is unknown."""
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in zones if z != phone_timezones.UNKNOWN_TIMEZONE)


def speakable_phone(e164: str) -> str:
    """`+14155550142` → `+1 415 555 0142` (grouped so TTS reads digits)."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"+1 {e164[2:5]} {e164[5:8]} {e164[8:]}"
    d = e164[1:]
    return "+" + " ".join(d[i:i + 3] for i in range(0, len(d), 3))
