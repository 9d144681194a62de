"""Checks across settings: each value parsed fine on its own, but together they don't work.

Used by `agent.config.load_settings`, which reports these with the per-variable problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cross_problems(values: Mapping[str, Any]) -> list[str]:
    """Every problem between parsed values (keyed by `Settings` field name)."""
    problems: list[str] = []
    lo, hi = values.get("min_endpointing_delay"), values.get("max_endpointing_delay")
    if lo is not None and hi is not None and hi < lo:
        problems.append(f"MAX_ENDPOINTING_DELAY must not be below MIN_ENDPOINTING_DELAY "
                        f"({hi} < {lo})")

    if values.get("webhook_urls"):
        secret = values.get("webhook_secret") or ""
        if len(secret) < 32:
            problems.append("WEBHOOK_SECRET must be set (32+ characters) when WEBHOOK_URLS is")
    if str(values.get("recordings_store") or "").startswith("s3://") and not (
            values.get("s3_access_key_id") and values.get("s3_secret_access_key")):
        problems.append("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set for an s3:// "
                        "RECORDINGS_STORE")
    problems += _backup_problems(values)
    return problems


def _backup_problems(values: Mapping[str, Any]) -> list[str]:
    """A backup that is switched on must have what it needs to connect."""
    needed: list[tuple[str, str, str]] = []
    if values.get("llm_backup") == "openai":
        needed += [("LLM_BACKUP_MODEL", "llm_backup_model", "LLM_BACKUP=openai"),
                   ("LLM_BACKUP_API_KEY", "llm_backup_api_key", "LLM_BACKUP=openai")]
    if values.get("stt_backup") == "openai":
        needed += [("STT_BACKUP_MODEL", "stt_backup_model", "STT_BACKUP=openai"),
                   ("STT_BACKUP_API_KEY", "stt_backup_api_key", "STT_BACKUP=openai")]
    return [f"{env} is missing: {why} needs it" for env, name, why in needed
            if not values.get(name)]
