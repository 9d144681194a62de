"""Typed settings for the worker, read from the environment (and `.env`) and validated up front.

Each setting is declared once, as a field of `Settings` built with `setting(...)`: its variable
name, purpose, default, whether it is required or secret, and the parser that turns the text
into the field's type (raising `ValueError` with the problem). The validation message, the
`.env.example` check (tests/unit/test_config.py) and the README's configuration table
(`python -m agent.config --markdown`, checked by a test) all come from these declarations.

Every problem is collected and reported at once, so an operator fixes a broken `.env` in one
pass. Secret values never appear in messages or in `repr()`.
"""

from __future__ import annotations

import hmac
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time as dt_time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from .config_checks import cross_problems
from .config_parsers import (
    DEFAULT_BUSINESS_TIMEZONE,
    DatabaseUrl,
    agent_name,
    database_url,
    host,
    hours,
    livekit_secret,
    on_off,
    one_of,
    optional_text,
    recordings_store,
    seconds,
    sip_uri,
    text,
    time_zone,
    transfer_destinations,
    url,
    url_list,
    whole,
    without_password,
)
from .telephony.destinations import TransferPlan, WarmTransferPlan

T = TypeVar("T")

TURN_DETECTORS = ("auto", "semantic", "audio", "stt", "vad")
STT_BACKUPS = ("off", "deepgram", "openai")

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


# --- the declaration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One environment variable: what it is for and how it becomes a typed value."""

    env: str
    purpose: str
    parse: Callable[[str], Any]
    default: str | None = None  # None and not required: the variable may be left unset
    required: bool = False
    secret: bool = False
    doc_default: str | None = None  # what the README shows when `default` isn't literal


def setting(env: str, purpose: str, parse: Callable[[str], Any] = text, *,
            default: str | None = None, required: bool = False, secret: bool = False,
            doc_default: str | None = None) -> Any:
    """A `Settings` field declared by its environment variable (see the module docstring)."""
    decl = Setting(env, purpose, parse, default, required, secret, doc_default)
    return field(repr=not secret, metadata={"setting": decl})


@dataclass(frozen=True)
class Settings:
    livekit_url: str = setting("LIVEKIT_URL", "WebSocket URL of the LiveKit server",
                               url("ws", "wss"), required=True)
    livekit_api_key: str = setting("LIVEKIT_API_KEY", "LiveKit API key the worker registers "
                                   "with", required=True, secret=True)
    livekit_api_secret: str = setting("LIVEKIT_API_SECRET", "LiveKit API secret (32+ "
                                      "characters)", livekit_secret, required=True, secret=True)

    deepgram_api_key: str = setting("DEEPGRAM_API_KEY", "Deepgram key for streaming "
                                    "speech-to-text", required=True, secret=True)
    deepgram_base_url: str | None = setting(
        "DEEPGRAM_BASE_URL", "Deepgram listen endpoint override incl. /v1/listen (emulator, "
        "proxy)", url("http", "https", "ws", "wss", optional=True), doc_default="Deepgram's")
    # nova-3: Deepgram's most accurate streaming model on narrowband (8 kHz) phone audio and
    # the only one that takes `keyterm` prompting (names, order numbers).
    deepgram_model: str = setting("DEEPGRAM_MODEL", "Deepgram model (nova-3 takes keyterms)",
                                  default="nova-3")
    deepgram_language: str = setting("DEEPGRAM_LANGUAGE", "Deepgram language code",
                                     default="en-US")

    deepseek_api_key: str = setting("DEEPSEEK_API_KEY", "DeepSeek key for the language model",
                                    required=True, secret=True)
    deepseek_base_url: str = setting("DEEPSEEK_BASE_URL", "DeepSeek OpenAI-compatible endpoint",
                                     url("http", "https"), default="https://api.deepseek.com")
    deepseek_model: str = setting("DEEPSEEK_MODEL", "DeepSeek model id",
                                  default="deepseek-v4-flash")

    eleven_api_key: str = setting("ELEVEN_API_KEY", "ElevenLabs key for streaming "
                                  "text-to-speech", required=True, secret=True)
    elevenlabs_base_url: str | None = setting(
        "ELEVENLABS_BASE_URL", "ElevenLabs API base override, ending in /v1",
        url("http", "https", optional=True), doc_default="ElevenLabs'")
    # "Rachel": a clear, neutral voice from the ElevenLabs default library.
    elevenlabs_voice_id: str = setting("ELEVENLABS_VOICE_ID", "ElevenLabs voice id",
                                       default="21m00Tcm4TlvDq8ikWAF")
    # Flash v2.5: ElevenLabs' lowest-latency model (~75 ms model time), made for live agents.
    elevenlabs_model: str = setting("ELEVENLABS_MODEL", "ElevenLabs model (flash = lowest "
                                    "latency)", default="eleven_flash_v2_5")

    agent_name: str = setting("AGENT_NAME", "name the worker registers for explicit dispatch "
                              "(SIP rules and browser tokens name it)", agent_name,
                              default="phone-agent")
    turn_detector: str = setting("TURN_DETECTOR", "end-of-turn detection: "
                                 + " | ".join(TURN_DETECTORS), one_of(*TURN_DETECTORS),
                                 default="auto")
    min_endpointing_delay: float = setting("MIN_ENDPOINTING_DELAY", "seconds of silence before "
                                           "a turn may end", seconds(0.0, 5.0), default="0.3")
    max_endpointing_delay: float = setting("MAX_ENDPOINTING_DELAY", "longest wait in seconds "
                                           "when the turn seems unfinished",
                                           seconds(0.1, 10.0), default="2.0")
    log_level: str = setting("LOG_LEVEL", "worker log level",
                             one_of("debug", "info", "warning", "error"), default="info")
    database_url: DatabaseUrl = setting("DATABASE_URL", "business database (sqlite:///path or "
                                "postgresql://...)", database_url,
                                default="sqlite:///.state/phone-agent.db")
    business_timezone: ZoneInfo = setting(
        "BUSINESS_TIMEZONE", "the business's IANA time zone: which slots are past, what "
        "\"today\" is, how times are spoken (whatever the worker's clock says)", time_zone,
        default=DEFAULT_BUSINESS_TIMEZONE)
    transfer_destinations: dict[str, str] = setting(
        "TRANSFER_DESTINATIONS", "where transfers go: department=sip:...|tel:..., "
        "comma-separated", transfer_destinations, default="")
    transfer_fallback: str | None = setting("TRANSFER_FALLBACK", "destination tried when a "
                                            "department's transfer fails", sip_uri)
    max_concurrent_calls: int = setting("MAX_CONCURRENT_CALLS", "calls one worker takes at "
                                        "once; its reported load is active calls / this",
                                        whole(1, 500), default="8")
    num_idle_processes: int = setting("NUM_IDLE_PROCESSES", "warm job processes kept ready "
                                      "(each holds the models)", whole(0, 16), default="1")
    # --- outbound calls and warm transfer (agent/telephony) ---
    sip_outbound_trunk_id: str | None = setting(
        "SIP_OUTBOUND_TRUNK_ID", "outbound trunk id", optional_text,
        doc_default="the trunk named phone-agent-outbound")
    outbound_ringing_timeout: int = setting("OUTBOUND_RINGING_TIMEOUT", "seconds an outbound "
                                            "or warm-transfer call may ring", whole(5, 180),
                                            default="30")
    outbound_amd: bool = setting("OUTBOUND_AMD", "answering-machine detection on outbound "
                                 "calls: on | off", on_off, default="on")
    outbound_calling_hours: tuple[dt_time, dt_time] = setting(
        "OUTBOUND_CALLING_HOURS", "when outbound calls may ring, in the callee's local time "
        "(from the number): HH:MM-HH:MM", hours, default="08:00-21:00")
    outbound_max_attempts_per_day: int = setting(
        "OUTBOUND_MAX_ATTEMPTS_PER_DAY", "outbound calls to one number in 24 hours, at most",
        whole(1, 100), default="3")
    warm_transfer_plan: WarmTransferPlan = setting(
        "WARM_TRANSFER_DESTINATIONS", "numbers dialled through the outbound trunk for warm "
        "transfers: department=+number, comma-separated (the tool exists only when set)",
        WarmTransferPlan.parse, default="")
    # --- the web page for browser callers (agent/web) ---
    web_host: str = setting("WEB_HOST", "address the web page and its token endpoint listen on",
                            host, default="127.0.0.1")
    web_port: int = setting("WEB_PORT", "port of the web page and its token endpoint",
                            whole(1, 65535), default="8090")
    web_livekit_url: str | None = setting(
        "WEB_LIVEKIT_URL", "LiveKit URL handed to browsers, when they reach the server at "
        "another address than the worker", url("ws", "wss", optional=True),
        doc_default="`LIVEKIT_URL`")
    web_token_ttl: int = setting("WEB_TOKEN_TTL", "seconds a browser's join token stays valid "
                                 "for joining", whole(30, 900), default="300")
    web_rate_limit: int = setting("WEB_RATE_LIMIT", "tokens one client address may get per "
                                  "minute", whole(1, 1000), default="10")
    # --- monitoring (agent/observability: metrics, tracing) ---
    metrics_port: int = setting("METRICS_PORT", "port of the worker's Prometheus /metrics "
                                "(bound like the health check, AGENT_HEALTH_HOST, default "
                                "127.0.0.1); 0 turns it off", whole(0, 65535), default="9100")
    otel_endpoint: str | None = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OpenTelemetry collector the framework's traces and "
        "metrics are exported to (OTLP); unset = no export", url("http", "https", optional=True))
    otel_protocol: str = setting("OTEL_EXPORTER_OTLP_PROTOCOL", "OTLP transport: http/protobuf "
                                 "(port 4318) | grpc (port 4317)",
                                 one_of("http/protobuf", "grpc"), default="http/protobuf")

    # --- after the call (agent/recording, agent/analysis, agent/webhooks, agent/data) ---
    recording: str = setting("RECORDING", "call recording: off | consent (announced; the caller "
                             "may decline) | always (announced)",
                             one_of("off", "consent", "always"), default="off")
    recordings_store: str = setting("RECORDINGS_STORE", "where recordings go: a directory, or "
                                    "s3://bucket[/prefix] (any S3-compatible service)",
                                    recordings_store, default=".state/recordings")
    s3_endpoint_url: str | None = setting("S3_ENDPOINT_URL", "S3-compatible endpoint (MinIO, "
                                          "SeaweedFS, ...)", url("http", "https", optional=True),
                                          doc_default="AWS S3")
    s3_region: str = setting("S3_REGION", "S3 region", default="us-east-1")
    s3_access_key_id: str | None = setting("S3_ACCESS_KEY_ID", "S3 access key (s3:// stores)",
                                           optional_text, secret=True)
    s3_secret_access_key: str | None = setting("S3_SECRET_ACCESS_KEY", "S3 secret key (s3:// "
                                               "stores)", optional_text, secret=True)
    call_summary: bool = setting("CALL_SUMMARY", "DeepSeek summary and outcome of every call, "
                                 "after hang-up: on | off", on_off, default="on")
    summary_thinking: bool = setting("SUMMARY_THINKING", "DeepSeek thinking for that summary: "
                                     "on | off", on_off, default="on")
    webhook_urls: tuple[str, ...] = setting("WEBHOOK_URLS", "where call events are POSTed: "
                                            "http(s) URLs, comma-separated", url_list, default="")
    webhook_secret: str | None = setting("WEBHOOK_SECRET", "HMAC-SHA256 webhook signing key (32+ "
                                         "characters; needed with WEBHOOK_URLS)", optional_text,
                                         secret=True)
    webhook_max_attempts: int = setting("WEBHOOK_MAX_ATTEMPTS", "delivery attempts per event and "
                                        "URL", whole(1, 50), default="12")
    retention_days: int = setting("RETENTION_DAYS", "days calls (transcripts, events, recordings, "
                                  "summaries) are kept; 0 = forever", whole(0, 36_500),
                                  default="90")
    audit_retention_days: int = setting("AUDIT_RETENTION_DAYS", "days tool audit rows are kept; "
                                        "0 = forever", whole(0, 36_500), default="365")
    caller_hash_key: str | None = setting(
        "CALLER_HASH_KEY", "HMAC key that finds a caller's calls without storing the number",
        optional_text, secret=True, doc_default="derived from LIVEKIT_API_SECRET")

    # --- provider failover (agent/providers/failover.py); unset = no backup, as before ---
    stt_backup: str = setting("STT_BACKUP", "backup speech-to-text: off | deepgram (another "
                              "Deepgram endpoint or model) | openai (OpenAI-compatible "
                              "transcription, streamed with the VAD)",
                              one_of(*STT_BACKUPS), default="off")
    stt_backup_base_url: str | None = setting(
        "STT_BACKUP_BASE_URL", "backup STT endpoint (deepgram: incl. /v1/listen; openai: the "
        "API base incl. /v1)", url("http", "https", "ws", "wss", optional=True),
        doc_default="the vendor's")
    stt_backup_model: str | None = setting("STT_BACKUP_MODEL", "backup STT model (openai: "
                                           "required)", optional_text,
                                           doc_default="deepgram: DEEPGRAM_MODEL")
    stt_backup_api_key: str | None = setting("STT_BACKUP_API_KEY", "backup STT key (openai: "
                                             "required)", optional_text, secret=True,
                                             doc_default="deepgram: DEEPGRAM_API_KEY")
    llm_backup: str = setting("LLM_BACKUP", "backup language model: off | openai (any "
                              "OpenAI-compatible endpoint)", one_of("off", "openai"),
                              default="off")
    llm_backup_base_url: str = setting("LLM_BACKUP_BASE_URL", "backup LLM endpoint",
                                       url("http", "https"), default="https://api.openai.com/v1")
    llm_backup_model: str | None = setting("LLM_BACKUP_MODEL", "backup LLM model id (required "
                                           "with LLM_BACKUP=openai)", optional_text)
    llm_backup_api_key: str | None = setting("LLM_BACKUP_API_KEY", "backup LLM key (required "
                                             "with LLM_BACKUP=openai)", optional_text,
                                             secret=True)
    tts_backup: str = setting("TTS_BACKUP", "backup voice: off | deepgram (Deepgram Aura "
                              "streaming TTS)", one_of("off", "deepgram"), default="off")
    tts_backup_base_url: str | None = setting(
        "TTS_BACKUP_BASE_URL", "backup TTS endpoint incl. /v1/speak",
        url("http", "https", "ws", "wss", optional=True), doc_default="Deepgram's")
    tts_backup_model: str = setting("TTS_BACKUP_MODEL", "Deepgram Aura voice model",
                                    default="aura-2-andromeda-en")
    tts_backup_api_key: str | None = setting("TTS_BACKUP_API_KEY", "backup TTS key",
                                             optional_text, secret=True,
                                             doc_default="DEEPGRAM_API_KEY")
    failover_state_dir: str = setting(
        "FAILOVER_STATE_DIR", "what the worker's calls share about failover (each call runs in "
        "its own process): which providers are down, the pre-rendered fallback lines",
        default=".state/failover")

    @property
    def caller_key_secret(self) -> str:
        """CALLER_HASH_KEY, else a key derived from (never equal to) the LiveKit secret."""
        return self.caller_hash_key or hmac.new(self.livekit_api_secret.encode(),
                                                b"phone-agent caller key v1", "sha256").hexdigest()

    @property
    def transfer_plan(self) -> TransferPlan:
        return TransferPlan(self.transfer_destinations, self.transfer_fallback)

    def secrets(self) -> list[str]:
        """Every secret value, so log redaction can scrub them wherever they appear: the
        secret settings, and the password inside DATABASE_URL (in both its URL-encoded and
        its plain form)."""
        found = [v for f in fields(self) if _decl(f.name).secret
                 and isinstance(v := getattr(self, f.name), str) and v]
        password = self.database_url.password
        if password:
            found += [password, urlparse(str(self.database_url)).password or password]
        return found


def _decl(name: str) -> Setting:
    return next(f.metadata["setting"] for f in fields(Settings) if f.name == name)


SETTINGS: tuple[Setting, ...] = tuple(f.metadata["setting"] for f in fields(Settings))
VARIABLES = SETTINGS  # every variable, in declaration order (docs and tests)


def setting_default(env: str) -> str:
    """The declared default of a variable ("" when it has none)."""
    return next((s.default or "" for s in SETTINGS if s.env == env), "")


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
    values: dict[str, Any] = {}
    for f in fields(Settings):
        decl: Setting = f.metadata["setting"]
        raw = (env.get(decl.env) or "").strip()
        if _PLACEHOLDER.match(raw):
            if decl.required:
                state = "is missing" if not raw else "still has a placeholder value"
                problems.append(f"{decl.env} {state}: {decl.purpose}")
                continue
            raw = decl.default or ""
        if not raw and decl.default is None and not decl.required:
            values[f.name] = None
            continue
        try:
            values[f.name] = decl.parse(raw)
        except ValueError as e:
            if decl.secret:
                problems.append(f"{decl.env} {e}")
            else:
                problems.append(f"{decl.env}={without_password(raw)!r} {e}: {decl.purpose}")

    problems += cross_problems(values)
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


def markdown_table() -> str:
    """The README's configuration table, generated from the declarations."""
    rows = ["| Variable | Required | Default | Purpose |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = s.doc_default or (f"`{s.default}`" if s.default else "")
        purpose = s.purpose.replace("|", "\\|")  # a bare | would split the cell
        rows.append(f"| `{s.env}` | {'yes' if s.required else 'no'} | {default} | {purpose} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m agent.config --markdown
    if sys.argv[1:] == ["--markdown"]:
        print(markdown_table())
    else:
        print("usage: python -m agent.config --markdown", file=sys.stderr)
        sys.exit(2)
