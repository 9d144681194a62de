"""Conformance: the official livekit elevenlabs plugin against the ElevenLabs TTS emulator."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from livekit.agents import APIConnectOptions, APIError, APIStatusError
from livekit.agents import tts as lk_tts
from livekit.plugins import elevenlabs

from emulators import LatencyProfile, ProviderEmulators
from emulators.recognizer import get_recognizer

SENTENCES = ["We are open from nine to five.", "Would you like to book a table?"]
FAST = APIConnectOptions(max_retry=0, retry_interval=0.05, timeout=5.0)


def make_tts(emu: ProviderEmulators, http: aiohttp.ClientSession, **kw) -> elevenlabs.TTS:
    return elevenlabs.TTS(api_key=kw.pop("api_key", emu.env()["ELEVEN_API_KEY"]),
                          base_url=emu.elevenlabs_base_url, http_session=http,
                          encoding=kw.pop("encoding", "pcm_16000"), **kw)


async def speak(tts: lk_tts.TTS, pieces: list[str],
                conn_options: APIConnectOptions = FAST) -> tuple[bytes, int]:
    """Stream `pieces` through `tts` (any plugin); the audio and its sample rate."""
    stream = tts.stream(conn_options=conn_options)
    for p in pieces:
        stream.push_text(p)
    stream.end_input()
    pcm, rate = bytearray(), 0
    try:
        async with asyncio.timeout(20):
            async for ev in stream:
                pcm.extend(bytes(ev.frame.data))
                rate = ev.frame.sample_rate
    finally:
        await stream.aclose()
    return bytes(pcm), rate


async def test_stream_audio_is_recognizable_speech_and_protocol() -> None:
    rec = get_recognizer([*SENTENCES, "goodbye"])
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        tts = make_tts(emu, http)
        pcm, rate = await speak(tts, ["We are open ", "from nine to five."])
        assert rate == 16000 and len(pcm) > 16000  # > 0.5 s of audio
        assert rec.recognize(pcm, rate).text == SENTENCES[0]
        assert emu.tts_texts == [SENTENCES[0]]
        conn = emu.tts_connections[0]
        assert conn["query"]["output_format"] == "pcm_16000"
        assert conn["query"]["model_id"] == "eleven_turbo_v2_5"
        msgs = emu.state.tts_messages
        assert msgs[0]["text"] == " " and "voice_settings" in msgs[0]
        assert msgs[-1].get("close_context") is True
        assert msgs[-2] == {"text": "", "context_id": msgs[-1]["context_id"], "flush": True}
        # the socket is reused for a second stream with a new context id
        pcm2, _ = await speak(tts, [SENTENCES[1]])
        assert rec.recognize(pcm2, 16000).text == SENTENCES[1]
        assert len(emu.tts_connections) == 1
        ids = {m["context_id"] for m in msgs}
        assert len(ids) == 2
        await tts.aclose()


@pytest.mark.parametrize("encoding", ["pcm_24000", "pcm_8000", "mp3_22050_32"])
async def test_output_formats(encoding: str) -> None:
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        tts = make_tts(emu, http, encoding=encoding)
        pcm, rate = await speak(tts, ["goodbye"])
        assert rate == int(encoding.split("_")[1])
        assert get_recognizer(["goodbye", "yes please"]).recognize(pcm, rate).text == "goodbye"
        await tts.aclose()


async def test_rest_synthesize_and_word_mode() -> None:
    async with ProviderEmulators(profile=LatencyProfile.reference()) as emu, \
            aiohttp.ClientSession() as http:
        tts = make_tts(emu, http)
        pcm = bytearray()
        async for ev in tts.synthesize("Chunked hello.", conn_options=FAST):
            pcm.extend(bytes(ev.frame.data))
        assert len(pcm) > 8000
        assert emu.state.tts_requests[0]["body"]["text"] == "Chunked hello."
        # chunk_length_schedule → auto_mode=false, word by word, server-side buffering
        tts2 = make_tts(emu, http, chunk_length_schedule=[50, 80])
        pcm2, rate = await speak(tts2, [SENTENCES[1]])
        assert get_recognizer(SENTENCES).recognize(pcm2, rate).text == SENTENCES[1]
        assert emu.tts_connections[-1]["query"]["auto_mode"] == "false"
        await tts.aclose()
        await tts2.aclose()


async def test_bad_key_401_and_faults() -> None:
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        bad = make_tts(emu, http, api_key="nope")
        with pytest.raises(APIStatusError) as info:
            await speak(bad, ["hello"], APIConnectOptions(max_retry=2, retry_interval=0.05,
                                                          timeout=5))
        assert info.value.status_code == 401
        assert len(emu.tts_connections) == 1  # not retried
        await bad.aclose()

        tts = make_tts(emu, http)
        emu.faults.tts_error = "quota exceeded"
        with pytest.raises(APIError):
            await speak(tts, ["goodbye"])
        assert emu.faults.fired == ["tts_error"]
        pcm, _ = await speak(tts, ["goodbye"])  # disarmed: works again
        assert len(pcm) > 0

        emu.faults.tts_withhold_final = True
        with pytest.raises(APIError):
            await speak(tts, ["goodbye"], APIConnectOptions(max_retry=0, timeout=1.0))
        assert "tts_withhold_final" in emu.faults.fired
        await tts.aclose()

        tts = make_tts(emu, http)
        emu.faults.tts_http_status = 503
        emu.faults.tts_stall_s = 0.3
        pcm, _ = await speak(tts, ["goodbye"], APIConnectOptions(max_retry=2,
                                                                 retry_interval=0.05, timeout=5))
        assert len(pcm) > 0
        assert emu.faults.fired[-2:] == ["tts_http_status", "tts_stall_s"]
        await tts.aclose()
