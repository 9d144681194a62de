"""Webhooks: the signature scheme, and delivery from the durable outbox to a real HTTP
receiver on loopback (the example receiver of agent/webhooks/receiver.py), on SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from agent.data.repository import Repository
from agent.webhooks.delivery import Backoff, Deliverer
from agent.webhooks.events import CALL_ENDED, CALL_STARTED, Webhooks, payload
from agent.webhooks.receiver import Receiver
from agent.webhooks.signing import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SignatureError,
    signature,
    signed_headers,
    verify,
)
from tests.support.postgres import postgres_server, sqlite_and_postgres_url  # noqa: F401

SECRET = "whsec-" + "k" * 40
QUICK = Backoff(base_s=0.05, cap_s=0.2, jitter=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A receiver app listening on 127.0.0.1:port until stopped."""

    def __init__(self, app: web.Application, port: int) -> None:
        self.runner = web.AppRunner(app)
        self.port = port

    async def __aenter__(self) -> Served:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
def db_url(sqlite_and_postgres_url: str) -> str:  # noqa: F811
    return sqlite_and_postgres_url


@pytest.fixture
async def repo(db_url: str) -> AsyncIterator[Repository]:
    r = await Repository.open(db_url)
    yield r
    await r.close()


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


# --- the scheme --------------------------------------------------------------------------------


def test_signature_verifies_and_every_kind_of_bad_request_is_rejected() -> None:
    body = b'{"id":"evt_1","type":"call.started"}'
    headers = signed_headers(SECRET, "evt_1", body, now=1_800_000_000)
    assert verify(SECRET, headers, body, now=1_800_000_010) == 1_800_000_000
    cases = {
        "signature mismatch": (SECRET, headers, body.replace(b"started", b"ended"), 1_800_000_010),
        "stale timestamp": (SECRET, headers, body, 1_800_000_000 + 301),
        "unsigned request": (SECRET, {"Content-Type": "application/json"}, body, 1_800_000_000),
    }
    for reason, (secret, hdrs, raw, now) in cases.items():
        with pytest.raises(SignatureError, match=reason):
            verify(secret, hdrs, raw, now=now)
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify("another-secret-" + "x" * 30, headers, body, now=1_800_000_010)
    forged = {**headers, HEADER_TIMESTAMP: "1800000050"}  # a fresh timestamp on an old MAC
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(SECRET, forged, body, now=1_800_000_050)
    # during a secret rotation several signatures may be sent; one valid one is enough
    rotated = {**headers, HEADER_SIGNATURE: "v1=00ff, " + headers[HEADER_SIGNATURE]}
    assert verify(SECRET, rotated, body, now=1_800_000_010)
    assert signature(SECRET, 1, b"x").startswith("v1=") and len(signature(SECRET, 1, b"x")) == 67


async def test_emitter_queues_one_row_per_url_and_knows_its_events(repo: Repository) -> None:
    hooks = Webhooks(repo, ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"], "call-1")
    event_id = await hooks.emit(CALL_STARTED, {"call": {"call_uid": "call-1"}})
    rows = await repo.webhooks(call_uid="call-1")
    assert [r.url for r in rows] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    assert {r.event_id for r in rows} == {event_id} and {r.status for r in rows} == {"pending"}
    body = json.loads(rows[0].payload)
    assert body["id"] == event_id and body["type"] == CALL_STARTED
    assert body["call_uid"] == "call-1"
    with pytest.raises(ValueError):
        await hooks.emit("call.exploded", {})
    assert await Webhooks(repo, [], "call-2").emit(CALL_ENDED, {}) is None


# --- delivery ----------------------------------------------------------------------------------


async def test_delivered_requests_are_signed_and_verified(repo: Repository) -> None:
    receiver = Receiver(SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks"
    hooks = Webhooks(repo, [url], "call-1")
    ids = [await hooks.emit(CALL_STARTED, {"n": 1}), await hooks.emit(CALL_ENDED, {"n": 2})]
    deliverer = Deliverer(repo, SECRET, max_attempts=3, backoff=QUICK)
    async with Served(receiver.app(), port):
        assert await deliverer.deliver_due() == 2
    await deliverer.close()
    assert [e["id"] for e in receiver.events] == ids
    assert receiver.rejected == [] and receiver.deliveries == 2
    assert {r.status for r in await repo.webhooks()} == {"delivered"}
    assert await repo.due_webhooks() == []


async def test_tampered_stale_and_unsigned_requests_are_refused() -> None:
    receiver = Receiver(SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks"
    event_id, body = payload(CALL_STARTED, "call-1", {"caller_masked": "…0142"})
    raw = body.encode()
    async with Served(receiver.app(), port), aiohttp.ClientSession() as http:
        tampered = raw.replace(b"0142", b"9999")
        async with http.post(url, data=tampered,
                             headers=signed_headers(SECRET, event_id, raw)) as r:
            assert r.status == 401 and (await r.json())["error"] == "signature mismatch"
        async with http.post(url, data=raw, headers=signed_headers(
                SECRET, event_id, raw, now=time.time() - 3600)) as r:
            assert r.status == 401 and (await r.json())["error"] == "stale timestamp"
        async with http.post(url, data=raw, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 401 and (await r.json())["error"] == "unsigned request"
        async with http.post(url, data=raw, headers=signed_headers(SECRET, event_id, raw)) as r:
            assert r.status == 200
    assert receiver.rejected == ["signature mismatch", "stale timestamp", "unsigned request"]
    assert [e["id"] for e in receiver.events] == [event_id]


async def test_receiver_down_then_up_gets_each_event_exactly_once_even_across_a_restart(
        db_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks"
    repo = await Repository.open(db_url)
    hooks = Webhooks(repo, [url], "call-1")
    ids = [await hooks.emit(CALL_STARTED, {"n": i}) for i in range(3)]
    first = Deliverer(repo, SECRET, max_attempts=10, backoff=QUICK)
    assert await first.deliver_due() == 0  # nobody listening: connection refused
    rows = await repo.webhooks()
    assert {r.attempts for r in rows} == {1} and all(r.last_error for r in rows)
    assert {r.status for r in rows} == {"pending"}
    await first.close()
    await repo.close()  # the worker goes away with its events still queued

    receiver = Receiver(SECRET)
    lost_ack: set[str] = set()

    @web.middleware
    async def ack_lost_once(request: web.Request, handler):  # type: ignore[no-untyped-def]
        # The receiver processes the first event, but its answer never arrives: the sender
        # must deliver again, and the receiver must not process it twice.
        response = await handler(request)
        event_id = request.headers.get("X-PhoneAgent-Event-Id", "")
        if event_id == ids[0] and event_id not in lost_ack:
            lost_ack.add(event_id)
            return web.Response(status=500)
        return response

    app = receiver.app()
    app.middlewares.append(ack_lost_once)
    repo = await Repository.open(db_url)  # a new worker, same database
    second = Deliverer(repo, SECRET, max_attempts=10, backoff=QUICK)
    try:
        async with Served(app, port):
            async def all_delivered() -> bool:
                await second.deliver_due()
                return {r.status for r in await repo.webhooks()} == {"delivered"}

            await until(all_delivered)
    finally:
        await second.close()
        await repo.close()
    assert sorted(e["id"] for e in receiver.events) == sorted(ids)  # exactly once each
    assert receiver.deliveries == 4  # at-least-once on the wire: the lost ack was resent
    assert receiver.rejected == []


async def test_delivery_gives_up_after_the_last_attempt(repo: Repository) -> None:
    port = free_port()
    app = web.Application()

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app.router.add_post("/webhooks", broken)
    await Webhooks(repo, [f"http://127.0.0.1:{port}/webhooks"], "c").emit(CALL_STARTED, {})
    deliverer = Deliverer(repo, SECRET, max_attempts=2, backoff=QUICK)
    async with Served(app, port):
        async def settled() -> bool:
            await deliverer.deliver_due()
            return (await repo.webhooks())[0].status != "pending"

        await until(settled)
    await deliverer.close()
    (row,) = await repo.webhooks()
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 503")


async def test_two_workers_never_send_the_same_row_at_once(db_url: str) -> None:
    receiver = Receiver(SECRET)
    port = free_port()
    repos = [await Repository.open(db_url) for _ in range(2)]
    hooks = Webhooks(repos[0], [f"http://127.0.0.1:{port}/webhooks"], "c")
    for i in range(8):
        await hooks.emit(CALL_STARTED, {"n": i})
    deliverers = [Deliverer(r, SECRET, max_attempts=3, backoff=QUICK) for r in repos]
    try:
        async with Served(receiver.app(), port):
            sent = await asyncio.gather(*(d.deliver_due() for d in deliverers))
    finally:
        for d, r in zip(deliverers, repos, strict=True):
            await d.close()
            await r.close()
    assert sum(sent) == 8 and receiver.deliveries == 8 and len(receiver.events) == 8
