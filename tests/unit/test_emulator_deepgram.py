"""Conformance: the official livekit deepgram plugin against the Deepgram STT emulator."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIStatusError, stt
from livekit.plugins import deepgram

from emulators import LatencyProfile, ProviderEmulators
from emulators.recognizer import get_recognizer
from emulators.speech import mulaw_roundtrip, silence, synthesize

PHRASES = ["what are your opening hours", "I would like to book a table", "yes please",
           "mm hmm"]
RATE = 16000
FAST = APIConnectOptions(max_retry=0, retry_interval=0.1, timeout=5.0)
SE = stt.SpeechEventType


def frames(pcm: bytes, rate: int = RATE, ms: int = 20):
    step = rate * ms // 1000 * 2
    for i in range(0, len(pcm), step):
        chunk = pcm[i:i + step]
        if len(chunk) < step:
            chunk += b"\x00" * (step - len(chunk))
        yield rtc.AudioFrame(chunk, rate, 1, len(chunk) // 2)


def make_stt(emu: ProviderEmulators, http: aiohttp.ClientSession, **kw) -> deepgram.STT:
    env = emu.env()
    return deepgram.STT(api_key=kw.pop("api_key", env["DEEPGRAM_API_KEY"]),
                        base_url=env["DEEPGRAM_BASE_URL"], http_session=http, **kw)


async def run_stream(model: deepgram.STT, pcm: bytes, *,
                     until_finals: int) -> list[stt.SpeechEvent]:
    """Push all audio (faster than real time), collect events until `until_finals`
    END_OF_SPEECH-terminated finals, then close."""
    events: list[stt.SpeechEvent] = []
    stream = model.stream(conn_options=FAST)

    async def push() -> None:
        for f in frames(pcm):
            stream.push_frame(f)
            await asyncio.sleep(0)

    pusher = asyncio.create_task(push())
    try:
        async with asyncio.timeout(20):
            async for ev in stream:
                events.append(ev)
                ends = [e for e in events if e.type == SE.END_OF_SPEECH]
                if len(ends) >= until_finals:
                    break
    finally:
        pusher.cancel()
        await stream.aclose()
    return events


def utterance(text: str, *, mulaw: bool = False) -> bytes:
    pcm = synthesize(text, RATE)
    return mulaw_roundtrip(pcm, RATE) if mulaw else pcm


def sequence(events: list[stt.SpeechEvent]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        text = e.alternatives[0].text if e.alternatives else ""
        out.append((e.type.value, text))
    return out


def check_utterances(events: list[stt.SpeechEvent], expected: list[str]) -> None:
    kinds = [e.type for e in events if e.type != SE.RECOGNITION_USAGE]
    finals = [e.alternatives[0].text for e in events if e.type == SE.FINAL_TRANSCRIPT]
    assert finals == expected, sequence(events)
    # each utterance: START → ≥1 INTERIM → FINAL → END
    i = 0
    for _ in expected:
        assert kinds[i] == SE.START_OF_SPEECH, sequence(events)
        i += 1
        n_interim = 0
        while kinds[i] == SE.INTERIM_TRANSCRIPT:
            i += 1
            n_interim += 1
        assert n_interim >= 1, sequence(events)
        assert kinds[i] == SE.FINAL_TRANSCRIPT, sequence(events)
        assert kinds[i + 1] == SE.END_OF_SPEECH, sequence(events)
        i += 2


@pytest.mark.parametrize("mulaw", [False, True], ids=["pcm", "mulaw"])
async def test_two_utterances_start_interim_final_end(mulaw: bool) -> None:
    pcm = (silence(0.3) + utterance(PHRASES[0], mulaw=mulaw) + silence(0.8)
           + utterance(PHRASES[1], mulaw=mulaw) + silence(0.8))
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, aiohttp.ClientSession() as http:
        model = make_stt(emu, http, utterance_end_ms=1000)
        events = await run_stream(model, pcm, until_finals=2)
        check_utterances(events, PHRASES[:2])
        assert emu.stt_transcripts == PHRASES[:2]
        q = emu.stt_connections[0]["query"]
        assert q["encoding"] == "linear16" and q["sample_rate"] == "16000"
        assert q["interim_results"] == "true" and q["vad_events"] == "true"
        # word times are seconds since the connection opened
        final = [e for e in events if e.type == SE.FINAL_TRANSCRIPT][1]
        assert final.alternatives[0].start_time > 0.3 + len(utterance(PHRASES[0])) / 2 / RATE


async def test_noise_and_out_of_list_speech_give_no_final() -> None:
    noise = np.random.default_rng(1).normal(0, 4000, RATE // 4).astype(np.int16).tobytes()
    pcm = (silence(0.3) + noise + silence(0.6) + utterance("the quick brown fox")
           + silence(0.6) + utterance(PHRASES[2]) + silence(0.6))
    async with ProviderEmulators(stt_phrases=PHRASES[:3]) as emu, \
            aiohttp.ClientSession() as http:
        model = make_stt(emu, http)
        events = await run_stream(model, pcm, until_finals=3)
        finals = [e.alternatives[0].text for e in events if e.type == SE.FINAL_TRANSCRIPT]
        assert finals == [PHRASES[2]], sequence(events)
        assert emu.stt_transcripts == [PHRASES[2]]
        # a backchannel is recognized once it is in the phrase list
        emu.set_stt_phrases(PHRASES)
        events = await run_stream(model, silence(0.2) + utterance("mm hmm") + silence(0.5),
                                  until_finals=1)
        assert [e.alternatives[0].text for e in events
                if e.type == SE.FINAL_TRANSCRIPT] == ["mm hmm"]


@pytest.mark.parametrize(("profile", "delay"), [(LatencyProfile.reference(), 0.15),
                                              (LatencyProfile.none(), 0.12)])
async def test_final_timing_follows_profile(profile: LatencyProfile, delay: float) -> None:
    speech = utterance(PHRASES[2])
    async with ProviderEmulators(stt_phrases=PHRASES, profile=profile) as emu, \
            aiohttp.ClientSession() as http:
        model = make_stt(emu, http)
        await run_stream(model, silence(0.2) + speech + silence(0.6), until_finals=1)
        (timing,) = emu.state.stt_timings
        assert timing["speech_final"] is True and timing["transcript"] == PHRASES[2]
        # sent once `delay` s of audio silence followed the last voiced 10 ms window
        assert delay <= timing["sent_at"] - timing["speech_end"] < delay + 0.015
        assert 0.19 <= timing["speech_start"] < 0.35
        assert timing["speech_end"] <= 0.2 + len(speech) / 2 / RATE


async def test_bad_key_is_401_not_retried() -> None:
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, aiohttp.ClientSession() as http:
        model = make_stt(emu, http, api_key="wrong-key")
        stream = model.stream(conn_options=APIConnectOptions(max_retry=3, retry_interval=0.05,
                                                             timeout=5))
        stream.push_frame(next(frames(silence(0.1))))
        with pytest.raises(APIStatusError) as info:
            async with asyncio.timeout(10):
                async for _ in stream:
                    pass
        assert info.value.status_code == 401
        assert len(emu.stt_connections) == 1
        await stream.aclose()


async def test_close_stream_metadata_and_finalize() -> None:
    token = {"Authorization": None}
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, aiohttp.ClientSession() as http:
        token["Authorization"] = f"Token {emu.env()['DEEPGRAM_API_KEY']}"
        url = emu.deepgram_base_url.replace("http", "ws") + \
            "?sample_rate=16000&encoding=linear16&interim_results=false&endpointing=false"
        async with http.ws_connect(url, headers=token) as ws:
            # all audio, Finalize and CloseStream before any KeepAlive: order must not matter
            speech = np.frombuffer(utterance(PHRASES[2]), np.int16)
            voiced = np.nonzero(np.abs(speech) > 1000)[0]
            speech = speech[: voiced[-1] + 1].tobytes()  # ends mid-sound: no endpoint yet
            await ws.send_bytes(silence(0.2) + speech)
            await ws.send_str('{"type": "Finalize"}')
            await ws.send_str('{"type": "CloseStream"}')
            msgs = []
            async for m in ws:
                msgs.append(m.json())
            assert ws.close_code == 1000
        kinds = [m["type"] for m in msgs]
        assert kinds[-1] == "Metadata"
        final = next(m for m in msgs if m["type"] == "Results")
        assert final["from_finalize"] is True and final["speech_final"] is False
        assert final["channel"]["alternatives"][0]["transcript"] == PHRASES[2]


async def test_drop_fault_fires_once_and_stream_recovers() -> None:
    pcm = silence(0.3) + utterance(PHRASES[0]) + silence(0.8)
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, aiohttp.ClientSession() as http:
        emu.faults.stt_drop_after_s = 0.5
        model = make_stt(emu, http)
        stream = model.stream(conn_options=APIConnectOptions(max_retry=3, retry_interval=0.05,
                                                             timeout=5))
        finals: list[str] = []

        async def consume() -> None:
            async for ev in stream:
                if ev.type == SE.FINAL_TRANSCRIPT:
                    finals.append(ev.alternatives[0].text)
                    return

        consumer = asyncio.create_task(consume())
        for f in frames(pcm):
            stream.push_frame(f)
        async with asyncio.timeout(10):
            while len(emu.stt_connections) < 2:  # noqa: ASYNC110 - polling a plain list
                await asyncio.sleep(0.05)
            for f in frames(pcm):  # the caller repeats themselves on the new connection
                stream.push_frame(f)
            await consumer
        await stream.aclose()
        assert emu.faults.fired == ["stt_drop_after_s"]
        assert emu.faults.stt_drop_after_s is None  # disarmed
        assert len(emu.stt_connections) == 2
        assert finals == [PHRASES[0]]


async def test_reject_fault_and_rest_recognize() -> None:
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, aiohttp.ClientSession() as http:
        emu.faults.stt_reject_status = 503
        url = emu.deepgram_base_url.replace("http", "ws") + "?sample_rate=16000"
        headers = {"Authorization": f"Token {emu.env()['DEEPGRAM_API_KEY']}"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url, headers=headers)
        assert info.value.status == 503
        async with http.ws_connect(url, headers=headers) as ws:  # disarmed
            await ws.send_str('{"type": "CloseStream"}')
            assert (await ws.receive_json())["type"] == "Metadata"
        # REST recognize(): the plugin posts a WAV of the frames
        model = make_stt(emu, http)
        ev = await model.recognize(list(frames(utterance(PHRASES[1]))), language="en-US")
        assert ev.alternatives[0].text == PHRASES[1]


def test_recognizer_direct() -> None:
    rec = get_recognizer(PHRASES)
    for p in PHRASES:
        assert rec.recognize(utterance(p, mulaw=True), RATE).text == p
    assert rec.recognize(utterance("hello there my friend"), RATE).text is None
