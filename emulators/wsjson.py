"""The JSON objects a websocket client sends, skipping binary frames and anything that is not a
JSON object (what the TTS emulators read), each recorded in `captured`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web


async def json_objects(ws: web.WebSocketResponse, captured: list[dict[str, Any]]
                       ) -> AsyncIterator[dict[str, Any]]:
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            data = json.loads(msg.data)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            captured.append(data)
            yield data
