"""The browser page's web server: LiveKit's token-endpoint schema, what a token may do, every
refusal a 4xx JSON error, the per-address rate limit, the page and its livekit-client bundle.

Runs the real aiohttp app on loopback (aiohttp's test server) and decodes the real tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from livekit import api

from agent.config import load_settings
from agent.web.server import build_app

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "devkey", "s" * 40
ENV = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880",
    "LIVEKIT_API_KEY": KEY,
    "LIVEKIT_API_SECRET": SECRET,
    "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789",
    "ELEVEN_API_KEY": "el-0123456789",
    "AGENT_NAME": "phone-agent-unit",
    "WEB_TOKEN_TTL": "120",
}


async def _client(**env: str) -> TestClient:
    client = TestClient(TestServer(build_app(load_settings({**ENV, **env})), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    c = await _client(WEB_RATE_LIMIT="1000")
    yield c
    await c.close()


async def post(client: TestClient, body: Any, *, raw: bytes | None = None,
               content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else json.dumps(body).encode()
    resp = await client.post("/api/token", data=data, headers={"Content-Type": content_type})
    assert resp.content_type == "application/json", "every answer, refusals too, is JSON"
    return resp.status, await resp.json()


def claims(token: str) -> api.Claims:
    return api.TokenVerifier(KEY, SECRET).verify(token)


# --- what a token is ----------------------------------------------------------------------


async def test_empty_request_gets_a_fresh_web_room_and_a_token_for_it(client: TestClient
                                                                      ) -> None:
    status, body = await post(client, {})
    assert status == 201
    assert set(body) == {"server_url", "participant_token"}
    assert body["server_url"] == ENV["LIVEKIT_URL"]
    c = claims(body["participant_token"])
    assert c.video is not None and c.video.room.startswith("web-") and len(c.video.room) > 12
    assert c.identity.startswith("web-")
    _, again = await post(client, {})
    assert claims(again["participant_token"]).video.room != c.video.room  # type: ignore[union-attr]


async def test_token_grants_only_what_a_caller_needs_and_expires_within_minutes(
        client: TestClient) -> None:
    _, body = await post(client, {"participant_name": "Ada", "participant_identity": "ada-1"})
    raw = body["participant_token"]
    c = claims(raw)
    assert (c.identity, c.name) == ("ada-1", "Ada")
    v = c.video
    assert v is not None and v.room_join is True
    assert v.can_publish_sources == ["microphone"] and v.can_publish_data is False
    assert v.can_update_own_metadata is False
    for admin in ("room_create", "room_list", "room_record", "room_admin", "ingress_admin",
                  "recorder", "agent", "hidden"):
        assert not getattr(v, admin), admin
    assert c.sip is None or not (c.sip.admin or c.sip.call)
    import jwt

    payload = jwt.decode(raw, SECRET, algorithms=["HS256"], issuer=KEY)
    assert payload["exp"] - payload["nbf"] == 120  # WEB_TOKEN_TTL
    # The room configuration dispatches our agent, with no metadata, for two participants.
    config = payload["roomConfig"]
    assert config["agents"] == [{"agentName": "phone-agent-unit"}]
    assert config["maxParticipants"] == 2


async def test_client_fields_of_the_standard_schema_are_honoured(client: TestClient) -> None:
    status, body = await post(client, {
        "room_name": "web-kitchen_42", "participant_metadata": '{"lang": "en"}',
        "participant_attributes": {"page": "support"},
        "room_config": {"agents": [{"agent_name": "phone-agent-unit"}]},
    })
    assert status == 201
    c = claims(body["participant_token"])
    assert c.video is not None and c.video.room == "web-kitchen_42"
    assert c.metadata == '{"lang": "en"}' and c.attributes == {"page": "support"}


async def test_web_livekit_url_is_what_browsers_get() -> None:
    c = await _client(WEB_LIVEKIT_URL="wss://voice.example.com")
    try:
        _, body = await post(c, {})
        assert body["server_url"] == "wss://voice.example.com"
        csp = (await c.get("/")).headers["Content-Security-Policy"]
        assert "connect-src 'self' wss://voice.example.com https://voice.example.com" in csp
    finally:
        await c.close()


# --- refusals: 4xx, JSON, one clear sentence ----------------------------------------------


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"room_name": "call-_15550001111_Ab3x"}, 403, "rooms named web-"),  # a phone call's room
    ({"room_name": "call-_+15550001111_Ab3x"}, 400, "room_name must be"),
    ({"room_name": "demo-room"}, 403, "rooms named web-"),
    ({"room_name": "../etc/passwd"}, 400, "room_name must be"),
    ({"room_name": "web room"}, 400, "room_name must be"),
    ({"room_name": "web-x\n"}, 400, "room_name must be"),
    ({"room_name": "web-" + "x" * 61}, 400, "room_name must be"),
    ({"room_name": ""}, 400, "room_name must be"),
    ({"room_name": 7}, 400, "room_name must be"),
    ({"participant_identity": "a/b"}, 400, "participant_identity must be"),
    ({"participant_name": "n" * 65}, 400, "participant_name must be"),
    ({"participant_name": "bell\x07"}, 400, "participant_name must be"),
    ({"participant_metadata": "m" * 513}, 400, "participant_metadata"),
    ({"participant_attributes": {"sip.phoneNumber": "+14155550142"}}, 400,
     "participant_attributes"),
    ({"participant_attributes": {"lk.agent.state": "speaking"}}, 400, "participant_attributes"),
    ({"participant_attributes": {f"k{i}": "v" for i in range(9)}}, 400,
     "participant_attributes"),
    ({"participant_attributes": {"k": "v" * 129}}, 400, "participant_attributes"),
    ({"room_config": {"agents": [{"agent_name": "someone-else"}]}}, 400, "room_config"),
    # Dispatch metadata orders outbound calls (agent/telephony/outbound.py): never from here.
    ({"room_config": {"agents": [{"agent_name": "phone-agent-unit",
                                  "metadata": '{"phone_number": "+14155550142"}'}]}},
     400, "room_config"),
    ({"room_config": {"agents": [{"agent_name": "phone-agent-unit"}] * 2}}, 400, "room_config"),
    ({"room_config": {"max_participants": 50}}, 400, "room_config"),
    ({"is_admin": True}, 400, "unknown field 'is_admin'"),
    ([], 400, "JSON object"),
    ("web-room", 400, "JSON object"),
])
async def test_bad_requests_are_refused_with_a_json_error(
        client: TestClient, body: Any, status: int, words: str) -> None:
    got, answer = await post(client, body)
    assert got == status, answer
    assert words in answer["error"]


async def test_malformed_json_oversized_bodies_and_wrong_types_are_refused(
        client: TestClient) -> None:
    assert await post(client, None, raw=b'{"room_name": "web-a"') == (
        400, {"error": "the request body is not valid JSON"})
    assert (await post(client, None, raw=b"\xff\xfe"))[0] == 400
    status, answer = await post(client, {"participant_metadata": "m" * 20000})
    assert status == 413 and "larger than" in answer["error"]
    status, answer = await post(client, None, raw=b"room_name=web-a",
                                content_type="application/x-www-form-urlencoded")
    assert status == 415 and "application/json" in answer["error"]
    resp = await client.get("/api/token")
    assert resp.status == 405 and "error" in await resp.json()
    resp = await client.post("/api/nothing-here", json={})
    assert resp.status == 404 and "error" in await resp.json()


async def test_a_body_arriving_in_pieces_is_read_whole(client: TestClient) -> None:
    async def pieces():  # type: ignore[no-untyped-def]
        for part in (b'{"participant_', b'name": "Ada", "room_', b'name": "web-slow"}'):
            yield part

    resp = await client.post("/api/token", data=pieces(),
                             headers={"Content-Type": "application/json"})
    assert resp.status == 201
    assert claims((await resp.json())["participant_token"]).video.room == "web-slow"  # type: ignore[union-attr]


async def test_rate_limit_is_per_client_address() -> None:
    c = await _client(WEB_RATE_LIMIT="3")
    try:
        for _ in range(3):
            assert (await post(c, {}))[0] == 201
        resp = await c.post("/api/token", json={})
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert "too many requests" in (await resp.json())["error"]
        # Another address (127.0.0.2, still loopback) has its own allowance.
        url = c.make_url("/api/token")
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as other:
            async with other.post(url, json={}) as r:
                assert r.status == 201
    finally:
        await c.close()


# --- the page -------------------------------------------------------------------------------


async def test_page_and_pinned_livekit_client_bundle_are_served(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200 and "Start call" in await page.text()
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    script = await client.get("/static/app.js")
    assert script.status == 200 and "/vendor/livekit-client.esm.mjs" in await script.text()
    bundle = await client.get("/vendor/livekit-client.esm.mjs")
    assert bundle.status == 200 and bundle.content_type == "text/javascript"
    pinned = json.loads((ROOT / "agent/web/package.json").read_text())["dependencies"]
    lock = json.loads((ROOT / "agent/web/package-lock.json").read_text())
    installed = lock["packages"]["node_modules/livekit-client"]["version"]
    assert pinned["livekit-client"] == installed  # an exact pin, locked
    assert f'version = "{installed}"' in await bundle.text() or installed in await bundle.text()
    assert (await client.get("/vendor/package.json")).status == 404  # only the dist bundle
    assert (await client.get("/static/../server.py")).status in (403, 404)


def test_bad_web_settings_stop_start_up_naming_each(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "LIVEKIT_"))}
    env.update({**ENV, "WEB_PORT": "99999", "WEB_HOST": "not a host!", "WEB_TOKEN_TTL": "86400",
                "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-m", "agent.web"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for name in ("WEB_PORT", "WEB_HOST", "WEB_TOKEN_TTL"):
        assert name in proc.stderr
