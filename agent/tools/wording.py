"""How times, days and amounts are said to the caller (written for text-to-speech)."""

from __future__ import annotations

from datetime import datetime


def speakable_slot(starts_at: datetime) -> str:
    """`2026-05-04 10:00` → `Monday, May 4 at 10:00 AM`."""
    return starts_at.strftime("%A, %B ") + str(starts_at.day) + " at " + \
        starts_at.strftime("%I:%M %p").lstrip("0")


def money(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def day(iso: str | None) -> str | None:
    """`2026-05-04` → `Monday, May 4`; text that is no date is returned as it is."""
    if not iso:
        return None
    try:
        d = datetime.strptime(iso[:10], "%Y-%m-%d")
    except ValueError:
        return iso
    return d.strftime("%A, %B ") + str(d.day)
