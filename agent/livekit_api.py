"""One way to build a LiveKit server API client: for outbound calls, provisioning and tools.

Inside a job the framework's own client (`JobContext.api`) is used; commands that run outside
a job (`python -m agent.telephony.outbound`, `python -m sip.provision`) build theirs here, from
the same variables the worker reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from livekit import api

DEFAULT_LIVEKIT_URL = "ws://127.0.0.1:7880"


def http_url(url: str) -> str:
    """The server API speaks HTTP on the same address as the worker's WebSocket URL."""
    if url.startswith("ws://"):
        return "http://" + url.removeprefix("ws://")
    if url.startswith("wss://"):
        return "https://" + url.removeprefix("wss://")
    return url


def livekit_api(url: str, key: str, secret: str) -> api.LiveKitAPI:
    """A server API client for `url` (ws:// or http:// form) with the given credentials."""
    return api.LiveKitAPI(http_url(url), key, secret)


def livekit_api_from_env(env: Mapping[str, str] | None = None) -> api.LiveKitAPI:
    """A client from LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET (`ValueError` if unset).

    Only these three variables are read, so a command that needs nothing but the server API
    doesn't fail on an unrelated setting (a missing provider key, say)."""
    source = os.environ if env is None else env
    url = (source.get("LIVEKIT_URL") or "").strip() or DEFAULT_LIVEKIT_URL
    key = (source.get("LIVEKIT_API_KEY") or "").strip()
    secret = (source.get("LIVEKIT_API_SECRET") or "").strip()
    missing = [name for name, value in (("LIVEKIT_API_KEY", key),
                                        ("LIVEKIT_API_SECRET", secret)) if not value]
    if missing:
        raise ValueError(f"{' and '.join(missing)} must be set to reach the LiveKit server API")
    return livekit_api(url, key, secret)
