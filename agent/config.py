"""Typed settings for the worker, read from the environment (and `.env`) and validated up front.

Every problem is collected and reported at once, so an operator fixes a broken `.env` in one
pass. Secret values never appear in messages or in `repr()`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_DEEPSEEK_BASE_URL = "https://api.deepseek.com"
DEFAULT_DEEPSEEK_MODEL = "deepseek-v4-flash"
# nova-3 is Deepgram's most accurate streaming model on narrowband (8 kHz) phone audio and the
# only one that accepts `keyterm` prompting, which helps with names and order numbers.
DEFAULT_DEEPGRAM_MODEL = "nova-3"
DEFAULT_DEEPGRAM_LANGUAGE = "en-US"
# Flash v2.5 is ElevenLabs' lowest-latency model (~75 ms model time), made for live agents.
DEFAULT_ELEVENLABS_MODEL = "eleven_flash_v2_5"
# "Rachel": a clear, neutral voice from the ElevenLabs default library.
DEFAULT_ELEVENLABS_VOICE_ID = "21m00Tcm4TlvDq8ikWAF"
DEFAULT_AGENT_NAME = "phone-agent"

TURN_DETECTORS = ("auto", "semantic", "audio", "stt", "vad")

# Values people leave in a copied `.env.example`; treated as missing.
_PLACEHOLDER = re.compile(
    r"^(|x+|changeme|change-me|placeholder|todo|none|null|your[-_ ].*|<.*>|\.\.\.|sk-\.\.\.)$",
    re.IGNORECASE,
)


class ConfigError(Exception):
    """Raised with every configuration problem found; `str()` is the operator-facing message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = ["Configuration is invalid; fix these settings (see .env.example):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Settings:
    livekit_url: str
    livekit_api_key: str = field(repr=False)
    livekit_api_secret: str = field(repr=False)

    deepgram_api_key: str = field(repr=False)
    deepgram_base_url: str | None
    deepgram_model: str
    deepgram_language: str

    deepseek_api_key: str = field(repr=False)
    deepseek_base_url: str
    deepseek_model: str

    eleven_api_key: str = field(repr=False)
    elevenlabs_base_url: str | None
    elevenlabs_voice_id: str
    elevenlabs_model: str

    agent_name: str
    turn_detector: str
    min_endpointing_delay: float
    max_endpointing_delay: float
    log_level: str
    database_url: str
    transfer_destinations: str
    transfer_fallback: str | None
    num_idle_processes: int
    max_concurrent_calls: int
    # --- outbound calls and warm transfer (agent/outbound.py, agent/warm_transfer.py) ---
    sip_outbound_trunk_id: str | None = None
    outbound_ringing_timeout: int = 30
    outbound_amd: bool = True
    warm_transfer_destinations: str = ""

    def secrets(self) -> list[str]:
        """Every secret value, so log redaction can scrub them wherever they appear."""
        return [
            getattr(self, f.name)
            for f in fields(self)
            if not f.repr and isinstance(getattr(self, f.name), str) and getattr(self, f.name)
        ]


@dataclass(frozen=True)
class _Var:
    name: str
    purpose: str
    required: bool = True
    default: str | None = None
    secret: bool = False
    check: Callable[[str], str | None] | None = None  # returns a problem description or None


def _url(*schemes: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            return f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        return None

    return check


def _float_range(lo: float, hi: float) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            v = float(value)
        except ValueError:
            return "must be a number of seconds"
        if not lo <= v <= hi:
            return f"must be between {lo} and {hi} seconds"
        return None

    return check


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value.lower() in choices else f"must be one of {', '.join(choices)}"

    return check


def _agent_name(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        return "must be 1-63 letters, digits, '-', '_' or '.'"
    return None


def _transfer_spec(value: str) -> str | None:
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, sep, uri = part.partition("=")
        if not sep or not name.strip() or not re.match(r"^(sip:|sips:|tel:)\S+$", uri.strip()):
            return "must be department=sip:...|tel:... pairs separated by commas"
    return None


def _sip_uri(value: str) -> str | None:
    if re.match(r"^(sip:|sips:|tel:)\S+$", value):
        return None
    return "must start with sip:, sips: or tel:"


def _warm_spec(value: str) -> str | None:
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, sep, number = part.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"\+?[0-9A-Za-z_.-]{2,32}",
                                                            number.strip()):
            return "must be department=+number pairs separated by commas"
    return None


def _int_range(lo: int, hi: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not value.isdigit() or not lo <= int(value) <= hi:
            return f"must be a whole number from {lo} to {hi}"
        return None

    return check


def _db_url(value: str) -> str | None:
    if value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        return None
    return "must start with sqlite:/// or postgresql://"


VARIABLES: tuple[_Var, ...] = (
    _Var("LIVEKIT_URL", "WebSocket URL of the LiveKit server", check=_url("ws", "wss")),
    _Var("LIVEKIT_API_KEY", "LiveKit API key the worker registers with", secret=True),
    _Var("LIVEKIT_API_SECRET", "LiveKit API secret (32+ characters)", secret=True),
    _Var("DEEPGRAM_API_KEY", "Deepgram key for streaming speech-to-text", secret=True),
    _Var("DEEPGRAM_BASE_URL", "Deepgram listen endpoint override (emulator, proxy)",
         required=False, check=_url("http", "https", "ws", "wss")),
    _Var("DEEPGRAM_MODEL", "Deepgram model", required=False, default=DEFAULT_DEEPGRAM_MODEL),
    _Var("DEEPGRAM_LANGUAGE", "Deepgram language code", required=False,
         default=DEFAULT_DEEPGRAM_LANGUAGE),
    _Var("DEEPSEEK_API_KEY", "DeepSeek key for the language model", secret=True),
    _Var("DEEPSEEK_BASE_URL", "DeepSeek OpenAI-compatible endpoint", required=False,
         default=DEFAULT_DEEPSEEK_BASE_URL, check=_url("http", "https")),
    _Var("DEEPSEEK_MODEL", "DeepSeek model id", required=False, default=DEFAULT_DEEPSEEK_MODEL),
    _Var("ELEVEN_API_KEY", "ElevenLabs key for streaming text-to-speech", secret=True),
    _Var("ELEVENLABS_BASE_URL", "ElevenLabs API base override, ending in /v1", required=False,
         check=_url("http", "https")),
    _Var("ELEVENLABS_VOICE_ID", "ElevenLabs voice id", required=False,
         default=DEFAULT_ELEVENLABS_VOICE_ID),
    _Var("ELEVENLABS_MODEL", "ElevenLabs model", required=False, default=DEFAULT_ELEVENLABS_MODEL),
    _Var("AGENT_NAME", "name the worker registers for explicit dispatch", required=False,
         default=DEFAULT_AGENT_NAME, check=_agent_name),
    _Var("TURN_DETECTOR", "end-of-turn detection: " + "|".join(TURN_DETECTORS), required=False,
         default="auto", check=_one_of(*TURN_DETECTORS)),
    _Var("MIN_ENDPOINTING_DELAY", "seconds of silence before a turn may end", required=False,
         default="0.3", check=_float_range(0.0, 5.0)),
    _Var("MAX_ENDPOINTING_DELAY", "longest wait when the turn seems unfinished", required=False,
         default="2.0", check=_float_range(0.1, 10.0)),
    _Var("LOG_LEVEL", "worker log level", required=False, default="info",
         check=_one_of("debug", "info", "warning", "error")),
    _Var("DATABASE_URL", "business database (sqlite:///path or postgresql://...)",
         required=False, default="sqlite:///.state/phone-agent.db", check=_db_url),
    _Var("TRANSFER_DESTINATIONS", "where transfers go: department=sip:...|tel:..., comma-separated",
         required=False, default="", check=_transfer_spec),
    _Var("TRANSFER_FALLBACK", "destination tried when a department's transfer fails",
         required=False, check=_sip_uri),
    _Var("MAX_CONCURRENT_CALLS", "calls one worker takes at once; its reported load is "
         "active calls / this", required=False, default="8", check=_int_range(1, 500)),
    _Var("NUM_IDLE_PROCESSES", "warm job processes kept ready (each holds the models)",
         required=False, default="1", check=_int_range(0, 16)),
    _Var("SIP_OUTBOUND_TRUNK_ID", "outbound trunk id (default: the trunk named "
         "phone-agent-outbound)", required=False),
    _Var("OUTBOUND_RINGING_TIMEOUT", "seconds an outbound or warm-transfer call may ring",
         required=False, default="30", check=_int_range(5, 180)),
    _Var("OUTBOUND_AMD", "answering-machine detection on outbound calls: on|off",
         required=False, default="on", check=_one_of("on", "off")),
    _Var("WARM_TRANSFER_DESTINATIONS", "numbers dialled for warm transfers: "
         "department=+number, comma-separated", required=False, default="", check=_warm_spec),
)


def describe_variables() -> list[tuple[str, str, bool, str | None]]:
    """(name, purpose, required, default) for every variable; used by docs and tests."""
    return [(v.name, v.purpose, v.required, v.default) for v in VARIABLES]


def load_settings(
    env: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = None
) -> Settings:
    """Build `Settings` from `env` (default: `os.environ` after loading `.env`).

    Raises `ConfigError` naming every missing, placeholder or malformed variable.
    """
    if env is None:
        from dotenv import load_dotenv

        load_dotenv(dotenv_path or Path.cwd() / ".env", override=False)
        env = os.environ

    problems: list[str] = []
    values: dict[str, str | None] = {}
    for var in VARIABLES:
        raw = (env.get(var.name) or "").strip()
        if _PLACEHOLDER.match(raw):
            if var.required:
                state = "is missing" if not raw else "still has a placeholder value"
                problems.append(f"{var.name} {state}: {var.purpose}")
                values[var.name] = None
                continue
            raw = var.default or ""
        if raw and var.check is not None:
            issue = var.check(raw)
            if issue:
                shown = "(hidden)" if var.secret else repr(raw)
                problems.append(f"{var.name}={shown} {issue}: {var.purpose}")
        values[var.name] = raw or None

    secret = values.get("LIVEKIT_API_SECRET")
    if secret and len(secret) < 32:
        problems.append("LIVEKIT_API_SECRET is shorter than 32 characters: LiveKit rejects it")
    if not problems:
        lo = float(values["MIN_ENDPOINTING_DELAY"] or 0)
        hi = float(values["MAX_ENDPOINTING_DELAY"] or 0)
        if hi < lo:
            problems.append(
                "MAX_ENDPOINTING_DELAY must not be below MIN_ENDPOINTING_DELAY "
                f"({hi} < {lo})"
            )
    if problems:
        raise ConfigError(problems)

    def get(name: str) -> str:
        return values[name] or ""

    return Settings(
        livekit_url=get("LIVEKIT_URL"),
        livekit_api_key=get("LIVEKIT_API_KEY"),
        livekit_api_secret=get("LIVEKIT_API_SECRET"),
        deepgram_api_key=get("DEEPGRAM_API_KEY"),
        deepgram_base_url=values["DEEPGRAM_BASE_URL"],
        deepgram_model=get("DEEPGRAM_MODEL"),
        deepgram_language=get("DEEPGRAM_LANGUAGE"),
        deepseek_api_key=get("DEEPSEEK_API_KEY"),
        deepseek_base_url=get("DEEPSEEK_BASE_URL"),
        deepseek_model=get("DEEPSEEK_MODEL"),
        eleven_api_key=get("ELEVEN_API_KEY"),
        elevenlabs_base_url=values["ELEVENLABS_BASE_URL"],
        elevenlabs_voice_id=get("ELEVENLABS_VOICE_ID"),
        elevenlabs_model=get("ELEVENLABS_MODEL"),
        agent_name=get("AGENT_NAME"),
        turn_detector=get("TURN_DETECTOR").lower(),
        min_endpointing_delay=float(get("MIN_ENDPOINTING_DELAY")),
        max_endpointing_delay=float(get("MAX_ENDPOINTING_DELAY")),
        log_level=get("LOG_LEVEL").lower(),
        database_url=get("DATABASE_URL"),
        transfer_destinations=get("TRANSFER_DESTINATIONS"),
        transfer_fallback=values["TRANSFER_FALLBACK"],
        num_idle_processes=int(get("NUM_IDLE_PROCESSES")),
        max_concurrent_calls=int(get("MAX_CONCURRENT_CALLS")),
        sip_outbound_trunk_id=values["SIP_OUTBOUND_TRUNK_ID"],
        outbound_ringing_timeout=int(get("OUTBOUND_RINGING_TIMEOUT")),
        outbound_amd=get("OUTBOUND_AMD").lower() == "on",
        warm_transfer_destinations=get("WARM_TRANSFER_DESTINATIONS"),
    )
