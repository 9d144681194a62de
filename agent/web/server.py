"""The web page for browser callers and its token endpoint (aiohttp).

    GET  /                        the page (static/index.html, app.js, style.css)
    GET  /vendor/livekit-client…  livekit-client's dist/ bundle, installed from npm (pinned in
                                  agent/web/package.json by scripts/install.sh; no CDN)
    POST /api/token               LiveKit's standard token endpoint (tokens.py), rate-limited
                                  per client address; every refusal is a 4xx with a JSON error
    GET  /healthz                 readiness
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from ..config import Settings
from ..livekit_api import http_url
from .tokens import TokenRequestError, parse_request, token_response

logger = logging.getLogger("phone-agent.web")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
CLIENT_DIST = HERE / "node_modules" / "livekit-client" / "dist"
CLIENT_FILES = ("livekit-client.esm.mjs", "livekit-client.esm.mjs.map")
MAX_BODY = 8 * 1024  # the largest valid request is far below this



class ClientMissing(RuntimeError):
    """livekit-client has not been installed next to the page."""


def check_client_installed() -> None:
    if not (CLIENT_DIST / CLIENT_FILES[0]).is_file():
        raise ClientMissing(f"livekit-client is not installed in {CLIENT_DIST.parent.parent}: "
                            "run `make install` (scripts/install.sh runs npm ci there)")


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and media from this origin only; connections to here and LiveKit."""
    lk = urlparse(settings.web_livekit_url or settings.livekit_url)
    lk_http = urlparse(http_url(lk.geturl()))
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {lk.scheme}://{lk.netloc} {lk_http.scheme}://{lk_http.netloc}; "
            "media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'none'")


class TokenEndpoint:
    """POST /api/token: rate limit, then content type, size, JSON, schema, then the token."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limit = RateLimitItemPerMinute(settings.web_rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, request: web.Request) -> web.Response:
        client = request.remote or "unknown"
        if not await self.limiter.hit(self.limit, "token", client):
            stats = await self.limiter.get_window_stats(self.limit, "token", client)
            retry = max(1, int(stats.reset_time - time.time()) + 1)
            logger.warning("token request refused: rate limit (retry after %d s)", retry)
            return json_error(429, f"too many requests; try again in {retry} seconds",
                              **{"Retry-After": str(retry)})
        if request.content_type != "application/json":
            return json_error(415, "send the request as application/json")
        try:
            body = await request.read()  # the app's client_max_size is MAX_BODY
        except web.HTTPRequestEntityTooLarge:
            return json_error(413, f"the request body is larger than {MAX_BODY} bytes")
        try:
            data = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return json_error(400, "the request body is not valid JSON")
        try:
            req = parse_request(data, self.settings.agent_name)
        except TokenRequestError as e:
            logger.info("token request refused (%d): %s", e.status, e)
            return json_error(e.status, str(e))
        logger.info("browser token issued: room %s, identity %s", req.room_name, req.identity)
        return web.json_response(token_response(self.settings, req), status=201,
                                 headers={"Cache-Control": "no-store"})


def _headers_middleware(csp: str) -> Middleware:
    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as e:
            if not request.path.startswith("/api/"):
                raise
            response = json_error(e.status, e.reason)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Permissions-Policy", "microphone=(self), camera=()")
        return response

    return add_headers


async def _index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def _client_bundle(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in CLIENT_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(CLIENT_DIST / name,
                            headers={"Content-Type": "text/javascript"} if name.endswith(
                                ".mjs") else None)


async def _health(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_app(settings: Settings) -> web.Application:
    check_client_installed()
    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[_headers_middleware(content_security_policy(settings))])
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/vendor/{name}", _client_bundle)
    app.router.add_post("/api/token", TokenEndpoint(settings))
    app.router.add_get("/healthz", _health)
    return app
