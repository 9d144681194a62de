"""Where hand-overs go: SIP/tel URIs for cold transfers, numbers for warm transfers.

Both are parsed once, from the settings (`agent.config`), into the typed plans below; the
SIP-URI rule lives here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SIP_URI = re.compile(r"^(sip:|sips:|tel:)\S+$")
# What a warm-transfer destination may be: dialled through the outbound trunk, so a number
# (E.164 or an extension) or a SIP user part.
WARM_NUMBER = re.compile(r"\+?[0-9A-Za-z_.-]{2,32}")


def is_sip_uri(value: str) -> bool:
    return bool(SIP_URI.match(value))


def _pairs(spec: str) -> list[tuple[str, str]]:
    """`name=value` pairs separated by commas; raises ValueError on a pair without `=`."""
    out: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(part)
        out.append((name.strip().lower(), value.strip()))
    return out


@dataclass(frozen=True)
class TransferPlan:
    """Where each department's calls go, e.g. {"support": "sip:support@pbx", "default": ...}."""

    destinations: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None

    @classmethod
    def parse(cls, spec: str, fallback: str | None = None) -> TransferPlan:
        """`department=uri` pairs separated by commas; ValueError names what is wrong."""
        try:
            pairs = _pairs(spec)
        except ValueError:
            raise ValueError("must be department=sip:...|tel:... pairs separated by commas") \
                from None
        if any(not is_sip_uri(uri) for _, uri in pairs):
            raise ValueError("must be department=sip:...|tel:... pairs separated by commas")
        if fallback and not is_sip_uri(fallback):
            raise ValueError("must start with sip:, sips: or tel:")
        return cls(dict(pairs), fallback or None)

    def candidates(self, department: str) -> list[str]:
        first = self.destinations.get(department.lower()) or self.destinations.get("default")
        ordered = [d for d in (first, self.fallback) if d]
        return list(dict.fromkeys(ordered))  # unique, in order


@dataclass(frozen=True)
class WarmTransferPlan:
    """Which number is dialled (through the outbound trunk) for each department."""

    destinations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> WarmTransferPlan:
        """`department=+number` pairs separated by commas; `default=` catches the rest."""
        problem = "must be department=+number pairs separated by commas"
        try:
            pairs = _pairs(spec)
        except ValueError:
            raise ValueError(problem) from None
        if any(not WARM_NUMBER.fullmatch(number) for _, number in pairs):
            raise ValueError(problem)
        return cls(dict(pairs))

    def number_for(self, department: str) -> str | None:
        return self.destinations.get(department.lower()) or self.destinations.get("default")
