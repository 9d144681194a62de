"""Recording consent: what the caller is told, how they decline, and what is kept.

RECORDING=consent is an opt-out: a fixed notice (spoken by the backend, never left to the
model) says the call may be recorded and how to decline: by saying so or pressing star. A
decline is final for the call. Three things can decline, none can grant:

- the keypad: star on an empty entry (agent/telephony/keypad.py);
- the caller's own words, checked in code on every final transcript (`is_decline`);
- the model's `stop_recording` tool, for a paraphrase the pattern misses. It can only stop a
  recording, so a confused or manipulated model can make a call *less* recorded, never more.

Audio is kept only when the notice was played out in full and nobody declined: a caller who
hung up during the notice, or an answering machine, never heard it.
RECORDING=always announces too (two-party-consent jurisdictions) and ignores declines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Consent(StrEnum):
    """The recording choice written to `calls.recording_consent`."""

    OFF = "off"  # RECORDING=off: nothing announced, nothing captured
    NOT_ANNOUNCED = "not_announced"  # the notice was not heard in full: nothing kept
    GIVEN = "given"  # consent mode: announced, not declined
    DECLINED = "declined"  # consent mode: the caller declined; nothing kept
    ANNOUNCED = "announced"  # always mode: announced


MODES = ("off", "consent", "always")

NOTICES = {
    "consent": ("Just so you know, this call may be recorded for quality. If you'd rather "
                "not be recorded, say so or press star at any time."),
    "always": "Just so you know, this call is recorded for quality and training.",
}
INSTRUCTIONS = {
    "consent": ("The caller was told the call may be recorded and that they can decline. If "
                "they say they don't want to be recorded, call stop_recording, then confirm "
                "in one sentence."),
    "always": ("The caller was told this call is recorded. If they object, say calmly that "
               "calls are recorded, and offer a colleague or a callback instead."),
}
DECLINED_SENTENCE = "Okay, this call won't be recorded."

# What callers say to opt out. A false match only loses a recording (the safe side), so the
# patterns are generous; "I don't mind being recorded" matches none of them.
_NOT = r"(?:do\s+not|don'?t|dont|never)"
_DECLINE = re.compile(
    r"\b(?:"
    rf"{_NOT}\s+(?:record|tape)"
    rf"|{_NOT}\s+(?:want|wish|like)\s+(?:to\s+be\s+|this(?:\s+call)?\s+|it\s+|being\s+|"
    r"the\s+call\s+|my\s+call\s+|you\s+to\s+record)?record"
    r"|(?:stop|turn\s+off|switch\s+off|pause|end)\s+(?:the\s+|this\s+|your\s+)?recording"
    r"|no\s+recording"
    r"|not\s+(?:be\s+|being\s+)?recorded"
    r"|opt(?:\s+|-)?out"
    rf"|{_NOT}\s+consent|no\s+consent|decline\s+(?:the\s+)?recording"
    r"|without\s+(?:a\s+|any\s+|being\s+)?record"
    r")",
    re.IGNORECASE,
)


def is_decline(words: str) -> bool:
    """Does the caller say they don't want to be recorded?"""
    return bool(_DECLINE.search(" ".join(words.replace("’", "'").split())))


@dataclass
class RecordingConsent:
    """The recording state of one call. Only `announced()` and `decline()` change it."""

    mode: str = "off"
    heard_notice: bool = False
    declined_by: str | None = None  # "keypad" | "speech" | "assistant"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown recording mode {self.mode!r}")

    @property
    def notice(self) -> str | None:
        return NOTICES.get(self.mode)

    @property
    def instructions(self) -> str | None:
        return INSTRUCTIONS.get(self.mode)

    @property
    def capturing(self) -> bool:
        """Should audio be captured now (it may still be dropped at the end)?"""
        return self.mode != "off" and self.declined_by is None

    def announced(self) -> None:
        """The notice played out in full."""
        self.heard_notice = True

    def decline(self, by: str) -> bool:
        """The caller declined; True when this stopped a recording that was running."""
        if self.mode != "consent" or self.declined_by is not None:
            return False
        self.declined_by = by
        return True

    @property
    def choice(self) -> Consent:
        if self.mode == "off":
            return Consent.OFF
        if self.declined_by is not None:
            return Consent.DECLINED
        if not self.heard_notice:
            return Consent.NOT_ANNOUNCED
        return Consent.GIVEN if self.mode == "consent" else Consent.ANNOUNCED

    @property
    def keep(self) -> bool:
        """May the captured audio be stored once the call has ended?"""
        return self.choice in (Consent.GIVEN, Consent.ANNOUNCED)
