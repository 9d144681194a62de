"""Parsers for settings: text from the environment -> a typed value, or ValueError naming
what is wrong (the message ends up after the variable's name in the configuration error)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from .telephony.destinations import SIP_URI, TransferPlan


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


def database_url(value: str) -> str:
    if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return value


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
