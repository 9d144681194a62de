"""Browser callers in real Chromium: the page served by `python -m agent.web`, its token
endpoint, and a call with the agent through the local livekit-server.

Debian's chromium, driven by Playwright (`executable_path`; never `playwright install`), runs
headless inside the private namespace with a fake microphone that plays an espeak-ng WAV. The
worker hears it through the official Deepgram plugin (emulated service), answers through the
DeepSeek emulator's script and speaks through the ElevenLabs emulator.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import api, rtc
from playwright.async_api import BrowserContext, Page, async_playwright

from agent.data.records import CallRecord
from agent.data.repository import Repository
from devstack import services as svc
from devstack.browser import CHROMIUM_FLAGS
from emulators.llm_script import Script, reply, tool_call
from emulators.speech import silence, synthesize

from .conftest import AGENT_NAME, ROOT, LiveStack

CHROMIUM = "/usr/bin/chromium"
# `make browser`'s flags (no sandbox, no GPU, nothing that phones home) and a fake microphone.
CHROMIUM_ARGS = [*CHROMIUM_FLAGS, "--use-fake-device-for-media-stream"]
WEB_PORT = 8091
SCREENSHOT = ROOT / "bench-results" / "browser-call.png"

GREETING = "Hello, this is the Northwind AI assistant. How can I help you today?"
QUESTION = "what are your opening hours"
HOURS = "We are open from eight in the morning until six in the evening."
GOODBYE = "Thank you for calling Northwind. Goodbye."
# The fake microphone is quiet while the agent greets, then asks; Chromium plays it once.
QUESTION_AFTER_S = 12.0


def web_env(stack: LiveStack, **extra: str) -> dict[str, str]:
    return {**stack.emulators.env(), "AGENT_NAME": AGENT_NAME, "WEB_PORT": str(WEB_PORT),
            "WEB_RATE_LIMIT": "200", **extra}


@pytest.fixture(scope="module")
def web_server(live_stack: LiveStack) -> Iterator[svc.Service]:
    server = svc.web(env=web_env(live_stack), name="web-test").start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def write_mic_wav(path: Path, pcm16k: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm16k)
    return path


@asynccontextmanager
async def chromium(profile: Path, wav: Path | None = None, *, allow_mic: bool = True
                   ) -> AsyncIterator[BrowserContext]:
    """Headless Chromium with a fresh profile; its microphone plays `wav` once."""
    args = list(CHROMIUM_ARGS)
    if allow_mic:
        args.append("--use-fake-ui-for-media-stream")  # "allow" the permission prompt
    if wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={wav}%noloop")
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=args,
            viewport={"width": 900, "height": 1000})
        try:
            yield ctx
        finally:
            await ctx.close()


async def open_page(ctx: BrowserContext, port: int = WEB_PORT) -> tuple[Page, list[str]]:
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"http://127.0.0.1:{port}/")
    await page.wait_for_selector("html[data-ready=true]", timeout=15000)
    return page, errors


async def start_call(page: Page, *, keyboard: bool = False) -> dict[str, Any]:
    """Press "Start call" (clicked, or Tab + Enter); return the token endpoint's answer."""
    async with page.expect_response("**/api/token") as answer:
        if keyboard:
            await page.keyboard.press("Tab")  # the first control on the page
            assert await page.evaluate("document.activeElement.id") == "call"
            await page.keyboard.press("Enter")
        else:
            await page.get_by_role("button", name="Start call").click()
    response = await answer.value
    assert response.status == 201
    return await response.json()  # type: ignore[no-any-return]


def room_of(token: str) -> str:
    grants = api.TokenVerifier().verify(token, verify_signature=False).video
    assert grants is not None
    return grants.room


async def transcript(page: Page, speaker: str) -> list[str]:
    return await page.locator(f"#transcript li[data-speaker={speaker}] .text").all_inner_texts()


async def wait_for_line(page: Page, speaker: str, words: str, within: float) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in await transcript(page, speaker):
            if words.lower() in line.lower():
                return line
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {speaker} line with {words!r}; transcript: "
                         f"{await transcript(page, 'you')} / {await transcript(page, 'agent')}")


async def alert_saying(page: Page, words: str, within: float = 15) -> str:
    """The page's alert once it says `words` (polled: the page's CSP forbids eval)."""
    deadline = time.monotonic() + within
    text = ""
    while time.monotonic() < deadline:
        text = await page.locator("#error").inner_text()
        if words in text:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"the alert never said {words!r}; it says {text!r}")


async def peak_level(page: Page, seconds: float) -> float:
    """The loudest the page's meter (an AnalyserNode on the agent's track) showed."""
    peak = 0.0
    for _ in range(int(seconds / 0.05)):
        peak = max(peak, float(await page.locator("#agent-level").evaluate("m => m.value")))
        await asyncio.sleep(0.05)
    return peak


async def call_record(stack: LiveStack, room: str, within: float = 15) -> dict[str, Any]:
    repo = await Repository.open(stack.database_url)
    try:
        record: CallRecord | None = None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            record = next((c for c in await repo.recent_calls(50) if c["room"] == room), None)
            if record is not None and record["ended_at"]:
                return {**record, "events": await repo.call_events(record["call_uid"])}
            await asyncio.sleep(0.2)
        raise AssertionError(f"the call record of {room} never finished: {record}")
    finally:
        await repo.close()


async def wait_mic_muted_on_server(stack: LiveStack, room: str, token: str, muted: bool,
                                   within: float = 10) -> None:
    """Wait until livekit-server sees the caller's one microphone track as `muted`."""
    identity = api.TokenVerifier().verify(token, verify_signature=False).identity
    states: list[bool] = []
    async with api.LiveKitAPI(f"http://127.0.0.1:{svc.LIVEKIT_PORT}", stack.key,
                              stack.secret) as lk:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            me = await lk.room.get_participant(api.RoomParticipantIdentity(room=room,
                                                                           identity=identity))
            states = [t.muted for t in me.tracks if t.source == api.TrackSource.MICROPHONE]
            if states == [muted]:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"the server's microphone tracks stayed {states}, not [{muted}]")


def tools_offered(stack: LiveStack, room_marker: str) -> set[str]:
    """Tool names in the LLM requests of the browser call (its prompt names the web page)."""
    names: set[str] = set()
    for r in stack.emulators.llm_requests:
        if room_marker in json.dumps(r.get("messages", [])):
            names |= {t["function"]["name"] for t in r.get("tools", [])}
    return names


# --- a whole call from the page -----------------------------------------------------------


async def test_a_call_from_the_page(stack: LiveStack, web_server: svc.Service,
                                    tmp_path: Path) -> None:
    """Loads, gets a token, connects; the greeting is shown and heard; the fake microphone's
    question and the agent's answer appear; hang-up is recorded as the caller's, channel
    browser; the browser path offers no phone-only tools."""
    stack.reset(Script([reply(GREETING, when="greet the caller"),
                        reply(HOURS, when="opening hours")]))
    before = len(stack.emulators.llm_requests)
    mic = write_mic_wav(tmp_path / "mic.wav", silence(QUESTION_AFTER_S)
                        + synthesize(QUESTION) + silence(40))
    async with chromium(tmp_path / "profile", mic) as ctx:
        page, errors = await open_page(ctx)
        assert await page.get_by_role("button", name="Mute microphone").is_disabled()
        answer = await start_call(page, keyboard=True)
        assert answer["server_url"] == svc.LIVEKIT_URL
        room = room_of(answer["participant_token"])
        await page.get_by_role("button", name="Hang up").wait_for(timeout=30000)

        # Generous upper bounds: on a loaded 2-core machine the worker runs seconds behind.
        await wait_for_line(page, "agent", "Northwind AI assistant", within=60)
        assert await page.locator("#status").inner_text() == (
            "Connected. The assistant is on the line.")
        level = await peak_level(page, 2.0)
        assert level > 0.05, f"the agent's audio never rose above silence (peak {level})"

        heard = await wait_for_line(page, "you", QUESTION, within=QUESTION_AFTER_S + 45)
        assert heard.lower().startswith(QUESTION)
        await wait_for_line(page, "agent", "open from eight", within=45)
        state = await page.locator("#agent-state").get_attribute("data-state")
        assert state in {"speaking", "listening", "thinking"}
        await asyncio.sleep(1.0)  # the answer a little further along, for the picture
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT), full_page=True)
        print(f"\nscreenshot of the page mid-call: {SCREENSHOT}")

        # Mute reaches the server: the caller's microphone track is muted there, then not.
        mute = page.get_by_role("button", name="Mute microphone")
        await mute.click()
        assert await page.get_by_role("button", name="Unmute microphone").get_attribute(
            "aria-pressed") == "true"
        await wait_mic_muted_on_server(stack, room, answer["participant_token"], True)
        await page.get_by_role("button", name="Unmute microphone").click()
        await wait_mic_muted_on_server(stack, room, answer["participant_token"], False)
        await page.get_by_role("button", name="Hang up").focus()

        # Keyboard only: the focus moved to "Hang up" when the call started, and comes back.
        assert await page.evaluate("document.activeElement.id") == "hangup"
        await page.keyboard.press("Enter")
        await page.get_by_role("button", name="Start call").wait_for(timeout=10000)
        assert await page.locator("#status").inner_text() == "Call ended."
        assert await page.evaluate("document.activeElement.id") == "call"
        assert not errors, errors

    record = await call_record(stack, room)
    assert record["ended_by"] == "caller" and record["channel"] == "browser"
    lines = [(e["role"], e["text"]) for e in record["events"] if e["kind"] == "transcript"]
    assert ("user", QUESTION) in [(r, (t or "").lower()) for r, t in lines]
    assert any(r == "assistant" and "open from eight" in (t or "") for r, t in lines)
    # The browser path: no REFER / warm transfer offered, the callback is.
    offered = tools_offered(stack, "The caller is on the web page")
    assert {"capture_callback_number", "end_call"} <= offered
    assert not offered & {"transfer_to_human", "warm_transfer_to_human"}
    system = stack.emulators.llm_requests[before]["messages"][0]["content"]
    assert "offer a callback" in system and "transfer them" not in system


async def test_agent_ending_the_call_tells_the_page(stack: LiveStack, web_server: svc.Service,
                                                    tmp_path: Path) -> None:
    """end_call deletes the room: the page says the assistant ended it; the record agrees."""
    stack.reset(Script([reply(GREETING, when="greet the caller"),
                        tool_call("end_call", {}, when="opening hours"),
                        reply(GOODBYE, when=".")]))
    mic = write_mic_wav(tmp_path / "mic.wav", silence(QUESTION_AFTER_S)
                        + synthesize(QUESTION) + silence(40))
    async with chromium(tmp_path / "profile", mic) as ctx:
        page, _ = await open_page(ctx)
        room = room_of((await start_call(page))["participant_token"])
        await wait_for_line(page, "agent", "Goodbye", within=QUESTION_AFTER_S + 60)
        await page.get_by_role("button", name="Start call").wait_for(timeout=20000)
        assert await page.locator("#status").inner_text() == "The assistant ended the call."
        assert await page.locator("#error").is_hidden()
    record = await call_record(stack, room)
    assert record["ended_by"] == "agent" and record["channel"] == "browser"


# --- what the page says when something is wrong -------------------------------------------


async def test_denied_microphone_is_explained_and_no_call_is_started(
        stack: LiveStack, web_server: svc.Service, tmp_path: Path) -> None:
    async with chromium(tmp_path / "profile", allow_mic=False) as ctx:
        page, _ = await open_page(ctx)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/api/token" in r.url else None)
        await page.get_by_role("button", name="Start call").click()
        alert = page.get_by_role("alert")
        await alert.wait_for(timeout=10000)
        assert "Microphone access was denied" in await alert.inner_text()
        assert await page.get_by_role("button", name="Start call").is_enabled()
        assert asked == [], "no token (and so no agent) without a microphone"


async def test_unreachable_servers_and_a_refused_token_are_explained(
        stack: LiveStack, web_server: svc.Service, tmp_path: Path) -> None:
    # A second web server that hands out a LiveKit URL nobody listens on, and allows one token
    # a minute per address.
    other = svc.web(env=web_env(stack, WEB_PORT=str(WEB_PORT + 1), WEB_RATE_LIMIT="1",
                                WEB_LIVEKIT_URL="ws://127.0.0.1:7999"), name="web-test-2")
    other.start().wait_ready()
    try:
        async with chromium(tmp_path / "profile", write_mic_wav(tmp_path / "m.wav",
                                                                silence(5))) as ctx:
            page, _ = await open_page(ctx, port=WEB_PORT + 1)
            alert = page.get_by_role("alert")
            await page.get_by_role("button", name="Start call").click()
            await alert.wait_for(timeout=30000)
            assert "voice server at ws://127.0.0.1:7999 can't be reached" in (
                await alert.inner_text())

            await page.get_by_role("button", name="Start call").click()  # the 2nd token
            assert "The server refused to start a call: too many requests" in (
                await alert_saying(page, "refused"))

            other.stop()  # the page's own server goes away
            await page.get_by_role("button", name="Start call").click()
            assert "The assistant's server can't be reached" in (
                await alert_saying(page, "server can"))
    finally:
        other.stop()


# --- the token endpoint against the real server -------------------------------------------


async def test_token_endpoint_refuses_bad_input_and_its_tokens_stay_in_their_room(
        stack: LiveStack, web_server: svc.Service) -> None:
    url = f"http://127.0.0.1:{WEB_PORT}/api/token"
    async with aiohttp.ClientSession() as http:
        for body, status in [(b"{not json", 400), (b'{"room_name": "call-abc"}', 403),
                             (b'{"room_name": "web-a b"}', 400),
                             (json.dumps({"participant_name": "x" * 500}).encode(), 400)]:
            async with http.post(url, data=body,
                                 headers={"Content-Type": "application/json"}) as r:
                assert r.status == status and "error" in await r.json(), body
        async with http.post(url, json={}) as r:
            assert r.status == 201
            token = (await r.json())["participant_token"]
        mine = room_of(token)
        # The token as credentials for the server API: nothing outside its room, no admin.
        for method, payload in [("ListParticipants", {"room": "demo-room"}),
                                ("ListRooms", {}), ("CreateRoom", {"name": "web-other"}),
                                ("ListParticipants", {"room": mine})]:
            async with http.post(f"http://127.0.0.1:{svc.LIVEKIT_PORT}/twirp/"
                                 f"livekit.RoomService/{method}", json=payload,
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status in (401, 403), (method, r.status, await r.text())

    # Joining with it lands in its own room, whatever room the client asks for.
    other = f"web-other-{int(time.time())}"
    room = rtc.Room()
    await room.connect(f"{svc.LIVEKIT_URL}?room={other}", token)
    try:
        assert room.name == mine
        async with api.LiveKitAPI(f"http://127.0.0.1:{svc.LIVEKIT_PORT}", stack.key,
                                  stack.secret) as lk:
            rooms = {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}
            assert mine in rooms and other not in rooms
        # Its grants let it publish a microphone and nothing else (here: no camera).
        mic = rtc.LocalAudioTrack.create_audio_track("mic", rtc.AudioSource(48000, 1))
        await room.local_participant.publish_track(
            mic, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        cam = rtc.LocalVideoTrack.create_video_track("cam", rtc.VideoSource(64, 64))
        try:
            await asyncio.wait_for(room.local_participant.publish_track(
                cam, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA)), 5)
        except Exception:  # refused, or never acknowledged: the server's view decides below
            pass
        async with api.LiveKitAPI(f"http://127.0.0.1:{svc.LIVEKIT_PORT}", stack.key,
                                  stack.secret) as lk:
            me = await lk.room.get_participant(api.RoomParticipantIdentity(
                room=mine, identity=room.local_participant.identity))
        sources = {t.source for t in me.tracks}
        assert api.TrackSource.MICROPHONE in sources
        assert api.TrackSource.CAMERA not in sources
    finally:
        await room.disconnect()
