"""Conformance of the backup-provider emulators with the official plugins: Deepgram Aura TTS
(`deepgram.TTS` over /v1/speak), OpenAI-compatible transcription (`openai.STT`), the backup
Deepgram listen endpoint, and the new fault knobs (silent STT, TTS cut mid-sentence)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, APIStatusError, stt
from livekit.plugins import deepgram, elevenlabs, openai

from emulators import ProviderEmulators
from emulators.recognizer import get_recognizer
from emulators.speech import silence, synthesize

from .test_emulator_elevenlabs import SENTENCES, speak

PHRASES = ["what are your opening hours", "where is my order"]
FAST = APIConnectOptions(max_retry=0, retry_interval=0.05, timeout=3.0)


def aura(emu: ProviderEmulators, http: aiohttp.ClientSession, **kw) -> deepgram.TTS:
    env = emu.backup_env()
    return deepgram.TTS(api_key=kw.pop("api_key", env["TTS_BACKUP_API_KEY"]),
                        base_url=env["TTS_BACKUP_BASE_URL"], http_session=http,
                        sample_rate=24000, **kw)


async def test_aura_stream_speaks_word_by_word_and_reuses_the_socket() -> None:
    rec = get_recognizer([*SENTENCES, "goodbye"])
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        tts = aura(emu, http)
        pcm, rate = await speak(tts, ["We are open ", "from nine to five."])
        assert rate == 24000 and len(pcm) > 24000
        from emulators.speech import resample
        assert rec.recognize(resample(pcm, 24000, 16000), 16000).text == SENTENCES[0]
        state = emu.backup
        assert state.tts_texts == [SENTENCES[0]] and emu.tts_texts == []
        conn = state.tts_connections[0]
        assert conn["query"]["encoding"] == "linear16" and conn["query"]["sample_rate"] == "24000"
        assert conn["query"]["model"] == "aura-2-andromeda-en"
        assert conn["authorization"] == f"Token {emu.backup_env()['TTS_BACKUP_API_KEY']}"
        speaks = [m for m in state.tts_messages if m["type"] == "Speak"]
        assert [m["text"] for m in speaks][:3] == ["We ", "are ", "open "]  # one per word
        assert state.tts_messages[len(speaks)] == {"type": "Flush"}
        pcm2, _ = await speak(tts, [SENTENCES[1]])
        assert rec.recognize(resample(pcm2, 24000, 16000), 16000).text == SENTENCES[1]
        assert len(state.tts_connections) == 1  # pooled
        # REST synthesize
        chunks = [bytes(a.frame.data) async for a in tts.synthesize("Goodbye.")]
        assert sum(map(len, chunks)) > 4800 and state.tts_requests[0]["body"] == {
            "text": "Goodbye."}
        await tts.aclose()


async def test_aura_faults_and_auth() -> None:
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        with pytest.raises(APIStatusError) as info:
            await speak(aura(emu, http, api_key="wrong"), ["Hello there."])
        assert info.value.status_code == 401
        emu.backup.faults.update({"tts_http_status": 503})
        with pytest.raises(APIStatusError) as info:
            await speak(aura(emu, http), ["Hello there."])
        assert info.value.status_code == 503
        tts = aura(emu, http)
        emu.backup.faults.update({"tts_error": "model overloaded"})
        with pytest.raises(APIError):
            await speak(tts, ["Hello there."])
        emu.backup.faults.update({"tts_withhold_final": True})
        with pytest.raises(APIError):  # no Flushed: the plugin's receive timeout
            await speak(tts, ["Hello there."], APIConnectOptions(max_retry=0, timeout=1.0))
        await tts.aclose()
        tts = aura(emu, http)
        emu.backup.faults.update({"tts_cut_after_chunks": 2})
        with pytest.raises(APIStatusError) as info:
            await speak(tts, [SENTENCES[1]])
        assert info.value.status_code == 1011
        pcm, _ = await speak(tts, [SENTENCES[0]])  # disarmed: a new socket works
        assert len(pcm) > 24000
        assert emu.backup.faults.fired == ["tts_http_status", "tts_error",
                                           "tts_withhold_final", "tts_cut_after_chunks"]
        await tts.aclose()


async def test_elevenlabs_socket_cut_mid_sentence_after_audio() -> None:
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        tts = elevenlabs.TTS(api_key=emu.env()["ELEVEN_API_KEY"], base_url=emu.elevenlabs_base_url,
                             http_session=http, encoding="pcm_16000")
        emu.faults.update({"tts_cut_after_chunks": 3})
        stream = tts.stream(conn_options=FAST)
        stream.push_text(SENTENCES[0])
        stream.end_input()
        got = 0
        with pytest.raises(APIError):
            async for ev in stream:
                got += len(ev.frame.data)
        await stream.aclose()
        assert 0 < got <= 3 * 1600 * 2  # some audio (three 100 ms messages), then the cut
        await tts.aclose()


def frames(pcm: bytes, rate: int = 16000) -> list[rtc.AudioFrame]:
    step = rate // 50
    return [rtc.AudioFrame(pcm[i * 2:(i + step) * 2].ljust(step * 2, b"\0"), rate, 1, step)
            for i in range(0, len(pcm) // 2, step)]


async def test_openai_transcription_endpoint_recognizes_and_refuses() -> None:
    async with ProviderEmulators(stt_phrases=PHRASES) as emu:
        env = emu.backup_env("openai")
        model = openai.STT(model=env["STT_BACKUP_MODEL"], base_url=env["STT_BACKUP_BASE_URL"],
                           api_key=env["STT_BACKUP_API_KEY"])
        ev = await model.recognize(frames(synthesize(PHRASES[1])), conn_options=FAST)
        assert ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
        assert ev.alternatives[0].text == PHRASES[1]
        assert emu.backup.stt_connections[0]["path"] == "/backup/v1/audio/transcriptions"
        emu.backup.faults.update({"stt_reject_status": 503})
        with pytest.raises(APIStatusError) as info:
            await model.recognize(frames(synthesize(PHRASES[0])), conn_options=FAST)
        assert info.value.status_code == 503
        wrong = openai.STT(model="whisper-1", base_url=env["STT_BACKUP_BASE_URL"],
                           api_key="sk-wrong")
        with pytest.raises(APIStatusError) as info:
            await wrong.recognize(frames(synthesize(PHRASES[0])), conn_options=FAST)
        assert info.value.status_code == 401


async def _listen(model: deepgram.STT, pcm: bytes, wait_s: float) -> list[stt.SpeechEvent]:
    stream = model.stream(conn_options=FAST)
    events: list[stt.SpeechEvent] = []

    async def read() -> None:
        async for ev in stream:
            events.append(ev)

    reader = asyncio.create_task(read())
    for f in frames(pcm):
        stream.push_frame(f)
    await asyncio.sleep(wait_s)
    reader.cancel()
    await stream.aclose()
    return events


async def test_backup_listen_endpoint_and_silent_fault() -> None:
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, \
            aiohttp.ClientSession() as http:
        env = emu.backup_env()
        model = deepgram.STT(model=env["STT_BACKUP_MODEL"], base_url=env["STT_BACKUP_BASE_URL"],
                             api_key=env["STT_BACKUP_API_KEY"], http_session=http,
                             endpointing_ms=300)
        pcm = synthesize(PHRASES[0]) + silence(1.0)
        events = await _listen(model, pcm, 1.5)
        finals = [e.alternatives[0].text for e in events
                  if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
        assert finals == [PHRASES[0]] and emu.backup.stt_transcripts == [PHRASES[0]]
        assert emu.backup.stt_connections[0]["query"]["model"] == "nova-2"
        emu.backup.faults.update({"stt_silent": True})
        assert await _listen(model, pcm, 1.5) == []  # connected, nothing ever comes back
        assert emu.backup.faults.fired == ["stt_silent"]


async def test_clear_captures_forgets_the_backups_traffic_too() -> None:
    async with ProviderEmulators() as emu, aiohttp.ClientSession() as http:
        await speak(aura(emu, http), ["Hello there."])
        emu.backup.faults.update({"tts_error": "x"})
        assert emu.backup.tts_texts == ["Hello there."]
        emu.clear_captures()
        assert emu.backup.tts_texts == [] and emu.backup.tts_connections == []
        assert emu.backup.faults.tts_error == "x"  # what a test armed stays
