"""Parsers for settings: text from the environment -> a typed value, or ValueError naming
what is wrong (the message ends up after the variable's name in the configuration error)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import time as dt_time
from typing import Any
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .telephony.destinations import SIP_URI, TransferPlan

# The business's time zone when none is configured (BUSINESS_TIMEZONE's default). Here, not in
# agent/data: importing the data package from the settings would import livekit.agents (and
# prometheus_client) before the CLI has prepared the metrics directory (agent/metrics_dir.py).
DEFAULT_BUSINESS_TIMEZONE = "America/Los_Angeles"


def text(value: str) -> str:
    return value


def optional_text(value: str) -> str | None:
    return value or None


def url(*schemes: str, optional: bool = False) -> Callable[[str], Any]:
    def parse(value: str) -> str | None:
        if not value and optional:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise ValueError(
                f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return value

    return parse


def seconds(lo: float, hi: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            v = float(value)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi} seconds")
        return v

    return parse


def whole(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.isdigit() or not lo <= int(value) <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return int(value)

    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value.lower()

    return parse


def on_off(value: str) -> bool:
    return one_of("on", "off")(value) == "on"


def agent_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        raise ValueError("must be 1-63 letters, digits, '-', '_' or '.'")
    return value


def livekit_secret(value: str) -> str:
    if len(value) < 32:
        raise ValueError("is shorter than 32 characters: LiveKit rejects it")
    return value


def without_password(value: str) -> str:
    """A URL with the password of its `user:password@` part replaced by `***`."""
    return _URL_PASSWORD.sub(r"\1***@", value)


_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:]*:)[^/@]*@", re.IGNORECASE)


class DatabaseUrl(str):
    """The database URL; its `repr()` (and so the settings' repr) hides the password."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(without_password(str(self)))

    @property
    def password(self) -> str | None:
        password = urlparse(str(self)).password
        return unquote(password) if password else None


def database_url(value: str) -> DatabaseUrl:
    if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return DatabaseUrl(value)


def time_zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as America/New_York") from None


def hours(value: str) -> tuple[dt_time, dt_time]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", value)
    if m is None:
        raise ValueError("must be a range of local times like 08:00-21:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (h1 < 24 and m1 < 60 and (h2 < 24 or (h2, m2) == (24, 0)) and m2 < 60):
        raise ValueError("must be a range of local times like 08:00-21:00")
    end = dt_time.max if (h2, m2) == (24, 0) else dt_time(h2, m2)
    if end <= dt_time(h1, m1):
        raise ValueError("must end after it starts (e.g. 08:00-21:00)")
    return dt_time(h1, m1), end


def transfer_destinations(value: str) -> dict[str, str]:
    return TransferPlan.parse(value).destinations


def host(value: str) -> str:
    """An address to listen on: an IP address or a host name."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})"
                            r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*", value):
            raise ValueError("must be an IP address or a host name") from None
    return value


def sip_uri(value: str) -> str | None:
    if not value:
        return None
    if not SIP_URI.match(value):
        raise ValueError("must start with sip:, sips: or tel:")
    return value


def url_list(value: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in value.split(",") if u.strip())
    for u in urls:
        url("http", "https")(u)
    return urls


def recordings_store(value: str) -> str:
    if "://" in value and not (value.startswith("s3://") and urlparse(value).netloc):
        raise ValueError("must be a directory or s3://bucket[/prefix]")
    return value
