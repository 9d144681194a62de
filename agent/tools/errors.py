"""The refusal every guard raises; the audit labels such calls `denied`."""

from __future__ import annotations

from livekit.agents import ToolError


class NotAllowed(ToolError):
    """The caller is not allowed to do this (not verified, not their record, locked)."""
