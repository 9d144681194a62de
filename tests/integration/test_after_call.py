"""After the call, through the real stack: consented recordings in a real S3-compatible store
(SeaweedFS), the summary and outcome from the emulated DeepSeek (thinking on, JSON mode), and
signed webhooks delivered to a real HTTP receiver.

A second worker runs beside the suite's one, on the same livekit-server and emulators, with
RECORDING=consent and webhooks on (the first worker keeps the default RECORDING=off, so no
other test hears a recording notice). Callers are livekit.rtc participants: they speak
espeak-ng audio, and the keypad is real DTMF published into the room, the same data packet
the SIP bridge sends for a phone's keypad.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from agent.data.records import CallEvent
from agent.data.repository import CallRecord, Repository
from agent.recording.consent import DECLINED_SENTENCE, NOTICES
from agent.webhooks.receiver import Receiver
from devstack import services as svc
from devstack.caller import TestCaller, caller_token
from emulators.llm_script import Script, reply
from emulators.speech import synthesize
from tests.support.s3 import S3Server

from .conftest import PHRASES, LiveStack

AGENT = "phone-agent-after-call"
SECRET = "whsec-integration-" + "q" * 32
GREETING = "Hello, this is the Northwind AI assistant. How can I help you today?"
HOURS = "We are open from eight in the morning until six in the evening."
DECLINE_WORDS = "please do not record this call"
ANSWER = {
    "summary": "The caller asked for the opening hours and got them.",
    "reason": "opening hours", "resolved": True,
    "follow_up": {"needed": False, "detail": None}, "sentiment": "neutral",
    "transfer_reason": None,
}


class ReceiverThread:
    """The example receiver (agent/webhooks/receiver.py) on 127.0.0.1, in its own loop."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.receiver = Receiver(SECRET)
        self.url = f"http://127.0.0.1:{self.port}/webhooks"
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

        async def serve() -> None:
            self._runner = web.AppRunner(self.receiver.app())
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def events(self, call_uid: str) -> dict[str, dict[str, Any]]:
        return {e["type"]: e for e in list(self.receiver.events) if e["call_uid"] == call_uid}


@dataclass
class AfterCallStack:
    live: LiveStack
    s3: S3Server
    hooks: ReceiverThread
    database_url: str

    def caller(self) -> TestCaller:
        room = f"after-{uuid.uuid4().hex[:8]}"
        token = caller_token(self.live.key, self.live.secret, room, "caller", AGENT)
        return TestCaller(svc.LIVEKIT_URL, token)


@pytest.fixture(scope="module")
def after_call_stack(live_stack: LiveStack, s3_server: S3Server,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[AfterCallStack]:
    hooks = ReceiverThread()
    hooks.start()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('after-call')}/calls.db"
    env = {
        **live_stack.emulators.env(), **s3_server.env("calls"),
        "AGENT_NAME": AGENT, "TURN_DETECTOR": "stt", "DATABASE_URL": database_url,
        "RECORDING": "consent", "CALL_SUMMARY": "on", "SUMMARY_THINKING": "on",
        "WEBHOOK_URLS": hooks.url, "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "info",
        "AGENT_HEALTH_PORT": "0",  # the suite's worker holds 8081
        "METRICS_PORT": "0",  # and 9100 (its /metrics)
    }
    worker = svc.worker("start", env=env, name="worker-after-call").start()
    try:
        worker.wait_ready()
        yield AfterCallStack(live_stack, s3_server, hooks, database_url)
    finally:
        worker.stop()
        hooks.stop()


def script(*turns: Any) -> Script:
    return Script([reply(GREETING, when="greet the caller"), *turns,
                   reply(json.dumps(ANSWER), when="for the JSON summary")])


async def opening(stack: AfterCallStack, caller: TestCaller) -> None:
    """Wait until the notice and the greeting have been played out. The notice can't be
    interrupted (the caller's audio is not listened to meanwhile), and the greeting may
    follow it after a pause, so: the greeting synthesized, then 2 s without agent audio."""
    await asyncio.wait_for(caller.agent_joined.wait(), 30)
    await caller.wait_for_speech(after=0.0, within=40)
    deadline = time.monotonic() + 60
    while (GREETING not in stack.live.emulators.tts_texts
           or time.monotonic() - caller.bursts[-1].end < 2.0):
        assert time.monotonic() < deadline, "the notice and greeting never finished"
        await asyncio.sleep(0.2)


async def finished(stack: AfterCallStack, within: float = 90.0
                   ) -> tuple[CallRecord, dict[str, dict[str, Any]]]:
    """The newest call's record once its call.ended webhook has arrived, and its webhooks."""
    repo = await Repository.open(stack.database_url)
    try:
        deadline = time.monotonic() + within
        while True:
            calls = await repo.recent_calls(1)
            if calls:
                events = stack.hooks.events(calls[0]["call_uid"])
                if "call.ended" in events:
                    record = await repo.call(calls[0]["call_uid"])
                    assert record is not None
                    return record, events
            assert time.monotonic() < deadline, f"no call.ended webhook: {calls}"
            await asyncio.sleep(0.3)
    finally:
        await repo.close()


async def call_events(stack: AfterCallStack, call_uid: str, kind: str) -> list[CallEvent]:
    repo = await Repository.open(stack.database_url)
    try:
        return await repo.call_events(call_uid, kind=kind)
    finally:
        await repo.close()


async def declined_by(stack: AfterCallStack, call_uid: str) -> list[str | None]:
    """Who declined the recording, from the call's recording_declined events."""
    return [e["detail"] for e in await call_events(stack, call_uid, "recording_declined")]


def channel_energy(ogg: bytes) -> tuple[float, float]:
    """RMS of the left (caller) and right (agent) channel of a recording."""
    import av

    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    with av.open(io.BytesIO(ogg)) as container:
        for frame in container.decode(audio=0):
            data = frame.to_ndarray()
            left.append(data[0] if data.shape[0] == 2 else data[0, 0::2])
            right.append(data[1] if data.shape[0] == 2 else data[0, 1::2])
    return (float(np.sqrt(np.mean(np.concatenate(left) ** 2))),
            float(np.sqrt(np.mean(np.concatenate(right) ** 2))))


async def test_consent_given_the_call_is_recorded_summarised_and_announced(
        after_call_stack: AfterCallStack) -> None:
    stack = after_call_stack
    stack.live.reset(script(reply(HOURS, when="opening hours")))
    async with stack.caller() as caller:
        await opening(stack, caller)
        end = await caller.say(synthesize("what are your opening hours"))
        answer = await caller.wait_for_speech(after=end, within=30)
        await caller.wait_until_quiet(answer)
    record, hooks = await finished(stack)
    emu = stack.live.emulators

    # The notice was the backend's fixed sentence, spoken before the model's greeting: the
    # call's transcript keeps lines in the order they were played (the TTS may well finish
    # synthesizing the greeting first, while the notice is still being played).
    assert NOTICES["consent"] in emu.tts_texts
    spoken = [e["text"] for e in await call_events(stack, record["call_uid"], "transcript")
              if e["role"] == "assistant"]
    assert spoken[:2] == [NOTICES["consent"], GREETING], spoken

    # The recording: consented, in the bucket, linked with its duration and checksum.
    assert record["recording_consent"] == "given" and record["recording_status"] == "stored"
    uri = record["recording_uri"] or ""
    key = uri.removeprefix(f"s3://{stack.s3.bucket}/")
    assert key.startswith("calls/") and key.endswith(f"{record['call_uid']}.ogg")
    stored = stack.s3.client().get_object(Bucket=stack.s3.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == record["recording_sha256"]
    assert record["recording_duration_s"] and record["recording_duration_s"] > 5.0
    caller_rms, agent_rms = channel_energy(stored)
    assert caller_rms > 0.005 and agent_rms > 0.005, "both sides of the call are in the file"

    # The summary and outcome, asked of DeepSeek with thinking on, in JSON mode.
    request = next(r for r in emu.llm_requests
                   if "for the JSON summary" in str(r["messages"][-1].get("content")))
    assert request["thinking"] == {"type": "enabled"}
    assert request["response_format"] == {"type": "json_object"}
    assert "caller: what are your opening hours" in request["messages"][-1]["content"].lower()
    assert record["outcome_status"] == "ok" and record["summary"] == ANSWER["summary"]
    assert record["outcome"] == {**{k: v for k, v in ANSWER.items() if k != "summary"},
                                 "actions": []}

    # The webhooks: each event once, correctly signed, call.ended carrying both.
    assert set(hooks) == {"call.started", "recording.ready", "call.ended"}
    assert stack.hooks.receiver.rejected == []
    assert hooks["recording.ready"]["data"]["uri"] == uri
    assert hooks["recording.ready"]["data"]["sha256"] == record["recording_sha256"]
    ended = hooks["call.ended"]["data"]
    assert ended["summary"] == ANSWER["summary"] and ended["outcome"] == record["outcome"]
    assert ended["recording"]["status"] == "stored" and ended["call"]["ended_by"] == "caller"


async def test_declined_on_the_keypad_nothing_is_recorded(
        after_call_stack: AfterCallStack) -> None:
    stack = after_call_stack
    stack.live.reset(script())
    async with stack.caller() as caller:
        await opening(stack, caller)
        pressed = time.monotonic()
        await caller.room.local_participant.publish_dtmf(code=10, digit="*")
        said = await caller.wait_for_speech(after=pressed, within=20)
        await caller.wait_until_quiet(said)
    record, hooks = await finished(stack)
    assert DECLINED_SENTENCE in stack.live.emulators.tts_texts
    assert record["recording_consent"] == "declined" and record["recording_status"] == "none"
    assert record["recording_uri"] is None and record["recording_sha256"] is None
    assert not [k for k in stack.s3.keys("calls/") if record["call_uid"] in k]
    assert "recording.ready" not in hooks and "call.ended" in hooks
    assert await declined_by(stack, record["call_uid"]) == ["keypad"]


async def test_declined_in_words_nothing_is_recorded_even_if_the_model_ignores_it(
        after_call_stack: AfterCallStack) -> None:
    stack = after_call_stack
    # The scripted "model" just says "Of course." and never calls stop_recording: the
    # backend's own check of the caller's words must stop the recording anyway.
    stack.live.reset(script(reply("Of course. How else can I help?", when="do not record")))
    stack.live.emulators.set_stt_phrases([*PHRASES, DECLINE_WORDS])
    async with stack.caller() as caller:
        await opening(stack, caller)
        end = await caller.say(synthesize(DECLINE_WORDS))
        answer = await caller.wait_for_speech(after=end, within=30)
        await caller.wait_until_quiet(answer)
    record, hooks = await finished(stack)
    assert DECLINE_WORDS in stack.live.emulators.stt_transcripts
    assert not any(c["name"] == "stop_recording"
                   for r in stack.live.emulators.state.llm_responses
                   for c in r["tool_calls"])
    assert record["recording_consent"] == "declined" and record["recording_status"] == "none"
    assert not [k for k in stack.s3.keys("calls/") if record["call_uid"] in k]
    assert "recording.ready" not in hooks
    assert await declined_by(stack, record["call_uid"]) == ["speech"]
