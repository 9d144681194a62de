"""The rules an outbound call must pass before it rings, and the callee's "stop calling me".

`refusal` checks, in the worker, right before the dial (the dispatch may come from anywhere):

* the number is E.164 and one the business may call (`agent.phones.diallable_e164`: no
  premium-rate or special numbers);
* it is not on the do-not-call list;
* it is within `OUTBOUND_CALLING_HOURS` in the callee's local time, for every time zone the
  number may ring in (libphonenumber's data; the business's zone when the range is unknown);
* fewer than `OUTBOUND_MAX_ATTEMPTS_PER_DAY` calls went to it in the last 24 hours.

`asks_to_stop` recognises a callee asking not to be called again; the outbound assistant then
adds the number to the list, says goodbye and hangs up (agent/telephony/outbound.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..call_state import CallState
from ..config import Settings
from ..data.repository import Repository
from ..phones import diallable_e164, time_zones

ATTEMPT_WINDOW = timedelta(hours=24)

STOP_GOODBYE = ("I'm sorry for the trouble. I've taken this number off our call list, and we "
                "won't call again. Goodbye.")

_STOP = re.compile(
    r"(?i)\b(?:stop\s+(?:calling|ringing|phoning)"
    r"|(?:don'?t|do\s+not|never)\s+(?:ever\s+)?(?:call|ring|phone)\s+(?:me|us|this\s+number|here)"
    r"(?:\s+(?:again|anymore|any\s+more|back))?"
    r"|(?:take|remove|delete)\s+(?:me|my\s+number|this\s+number)\s+(?:off|from)\b"
    r"|(?:put|add)\s+(?:me|my\s+number|this\s+number)\s+on\s+(?:your|the)\s+do[\s-]+not[\s-]+call"
    r"|no\s+more\s+calls|unsubscribe)"
)


def valid_number(number: str) -> bool:
    """E.164 exactly (no spaces, nothing around it) and a number the business may call."""
    return diallable_e164(number) == number


def asks_to_stop(text: str | None) -> bool:
    """True when the callee asks not to be called again ("stop calling me", "take me off
    your list", "don't call this number again")."""
    return bool(text) and _STOP.search(text or "") is not None


@dataclass(frozen=True)
class OutboundRules:
    calling_hours: tuple[time, time]  # local time of the callee, start inclusive
    max_attempts_per_day: int
    business_timezone: ZoneInfo


def _within_hours(now: datetime, zone: str, hours: tuple[time, time]) -> tuple[bool, str]:
    local = now.astimezone(ZoneInfo(zone))
    start, end = hours
    return start <= local.time() < end, f"{local.strftime('%H:%M')} in {zone}"


async def refusal(repo: Repository, number: str, rules: OutboundRules,
                  now: datetime | None = None) -> str | None:
    """Why `number` must not be called now, or None when it may."""
    e164 = diallable_e164(number)
    if e164 is None:
        return f"not a number we may call: {number!r}"
    if await repo.is_do_not_call(e164):
        return "the number is on the do-not-call list"
    now = now or datetime.now(UTC)
    for zone in time_zones(e164) or (str(rules.business_timezone),):
        inside, local = _within_hours(now, zone, rules.calling_hours)
        if not inside:
            start, end = rules.calling_hours
            return (f"outside calling hours ({start.strftime('%H:%M')}-"
                    f"{end.strftime('%H:%M')}) for the callee: it is {local}")
    attempts = await repo.outbound_attempts(e164, within=ATTEMPT_WINDOW)
    if attempts >= rules.max_attempts_per_day:
        return f"{attempts} calls to this number in the last 24 hours already (the limit)"
    return None


async def dispatch_refusal(state: CallState, number: str, purpose: str, settings: Settings
                           ) -> str | None:
    """Why an outbound dispatch must not dial: a bad number, no purpose, no database to check
    the rules against, or the rules themselves."""
    if not valid_number(number):
        return f"not an E.164 number we may call: {number!r}"
    if not purpose:
        return "no purpose given"
    if state.services is None:
        return "the database is unavailable, so the do-not-call list can't be checked"
    rules = OutboundRules(calling_hours=settings.outbound_calling_hours,
                          max_attempts_per_day=settings.outbound_max_attempts_per_day,
                          business_timezone=settings.business_timezone)
    return await refusal(state.services.repo, number, rules)
