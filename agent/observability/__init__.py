"""Observability helpers: redaction of personal data and secrets for transcripts and logs."""

from .redaction import (
    DEFAULT_SCRUBBER,
    RedactingFilter,
    SecretScrubber,
    install_log_redaction,
    luhn_valid,
    redact,
    redact_value,
    uninstall_log_redaction,
)

__all__ = [
    "DEFAULT_SCRUBBER",
    "RedactingFilter",
    "SecretScrubber",
    "install_log_redaction",
    "luhn_valid",
    "redact",
    "redact_value",
    "uninstall_log_redaction",
]
