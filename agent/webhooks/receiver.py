"""An example webhook receiver: verifies the signature, rejects stale or unsigned requests,
and handles each event id once (deliveries are at-least-once).

    WEBHOOK_SECRET=... python -m agent.webhooks.receiver --port 8787
    # then WEBHOOK_URLS=http://127.0.0.1:8787/webhooks on the worker

It prints one JSON line per new event. `Receiver` is the part to copy into a real service:
`verify` over the raw body, then deduplication on the payload's `id` (kept here in memory, for
the last `remember` events; a real service keeps the ids it processed in its own database).
Answers: 200 for a new or repeated event, 401 for a missing, wrong or stale signature, 400 for
a body that is not an event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .signing import HEADER_EVENT_ID, TOLERANCE_S, SignatureError, verify


class Receiver:
    def __init__(self, secret: str, *, on_event: Callable[[dict[str, Any]], None] | None = None,
                 tolerance_s: float = TOLERANCE_S, remember: int = 100_000) -> None:
        self._secret = secret
        self._on_event = on_event
        self._tolerance_s = tolerance_s
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.events: list[dict[str, Any]] = []  # each event once, in arrival order
        self.deliveries = 0  # correctly signed requests, repeats included
        self.rejected: list[str] = []  # why requests were refused

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(self._secret, request.headers, body, tolerance_s=self._tolerance_s)
        except SignatureError as exc:
            self.rejected.append(str(exc))
            return web.json_response({"error": str(exc)}, status=401)
        try:
            event = json.loads(body)
            event_id = event["id"]
        except (ValueError, KeyError, TypeError):
            self.rejected.append("not an event")
            return web.json_response({"error": "not an event"}, status=400)
        if not isinstance(event_id, str) or request.headers.get(HEADER_EVENT_ID) != event_id:
            self.rejected.append("event id mismatch")
            return web.json_response({"error": "event id mismatch"}, status=400)
        self.deliveries += 1
        if event_id in self._seen:
            return web.json_response({"ok": True, "duplicate": True})
        self._seen[event_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)
        return web.json_response({"ok": True, "duplicate": False})

    def app(self, path: str = "/webhooks") -> web.Application:
        app = web.Application()
        app.router.add_post(path, self.handle)
        return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.webhooks.receiver",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--path", default="/webhooks")
    args = parser.parse_args(argv)
    from dotenv import load_dotenv

    load_dotenv(override=False)
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if len(secret) < 32:
        print("WEBHOOK_SECRET must be set (32+ characters), the same as the worker's",
              file=sys.stderr)
        return 2
    receiver = Receiver(secret, on_event=lambda e: print(json.dumps(e), flush=True))

    async def serve() -> None:
        runner = web.AppRunner(receiver.app(args.path))
        await runner.setup()
        await web.TCPSite(runner, args.host, args.port).start()
        print(f"receiving webhooks on http://{args.host}:{args.port}{args.path}",
              file=sys.stderr, flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
