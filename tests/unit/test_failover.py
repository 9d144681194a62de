"""Provider failover per call: what the session gets with and without backups, the health
shared by the worker's calls (a known-down primary is skipped and checked in the background),
the silent-STT trip and the replay of the utterance in flight."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from livekit import rtc
from livekit.agents import APIConnectionError, llm, stt, tts
from livekit.plugins import deepgram, elevenlabs, openai

from agent import providers
from agent.config import ConfigError, load_settings
from agent.providers import CallProviders, ProviderHealth
from agent.providers.failover import LLM_ATTEMPT_TIMEOUT, MAX_UNRECOVERABLE_ERRORS
from agent.providers.stt_guard import AudioTape, GuardedSTT
from emulators import ProviderEmulators
from emulators.llm_script import Script, reply
from emulators.speech import silence, synthesize

from .test_config import GOOD

PHRASES = ["what are your opening hours", "where is my order"]


def chains(tmp_path: Path, **env: str) -> CallProviders:
    s = load_settings({**GOOD, "FAILOVER_STATE_DIR": str(tmp_path), **env})
    return CallProviders(s, vad=None, health=ProviderHealth(tmp_path / "health.json"))  # type: ignore[arg-type]


def test_without_a_backup_the_session_gets_the_plain_plugins(tmp_path: Path) -> None:
    c = chains(tmp_path)
    assert isinstance(c.stt.plugin, deepgram.STT) and c.stt.adapter is None
    assert isinstance(c.llm.plugin, openai.LLM) and c.llm.adapter is None
    assert isinstance(c.tts.plugin, elevenlabs.TTS) and c.tts.adapter is None
    opts = c.session_conn_options()
    assert opts.llm_conn_options == providers.LLM_CONN_OPTIONS
    assert opts.stt_conn_options.max_retry == 3 and opts.tts_conn_options.max_retry == 3
    assert opts.max_unrecoverable_errors == MAX_UNRECOVERABLE_ERRORS


async def test_with_backups_every_stage_is_a_fallback_adapter(tmp_path: Path) -> None:
    async with ProviderEmulators() as emu:
        c = chains(tmp_path, **emu.env(), **emu.backup_env())
    assert isinstance(c.stt.plugin, stt.FallbackAdapter)
    assert [type(m.plugin) for m in c.stt.members] == [GuardedSTT, GuardedSTT]
    assert isinstance(c.llm.plugin, llm.FallbackAdapter)
    assert c.llm.adapter._attempt_timeout == LLM_ATTEMPT_TIMEOUT
    assert c.llm.adapter._max_retry_per_llm == 0
    backup_llm = c.llm.members[1].plugin
    assert backup_llm.model == "gpt-4.1-mini" and "thinking" not in str(backup_llm._opts.extra_body)
    assert isinstance(c.tts.plugin, tts.FallbackAdapter)
    assert isinstance(c.tts.members[1].plugin, deepgram.TTS)
    assert c.tts.plugin.sample_rate == 24000  # no resampling between the voices
    opts = c.session_conn_options()
    assert {opts.stt_conn_options.max_retry, opts.llm_conn_options.max_retry,
            opts.tts_conn_options.max_retry} == {0}
    assert "sk-" not in " ".join(m.key for m in c.llm.members)  # keys name no secrets


async def test_openai_stt_backup_is_streamed_with_the_vad(tmp_path: Path) -> None:
    from agent.providers import load_vad

    async with ProviderEmulators() as emu:
        s = load_settings({**GOOD, **emu.env(), **emu.backup_env("openai"),
                           "FAILOVER_STATE_DIR": str(tmp_path)})
        c = CallProviders(s, vad=load_vad(), health=ProviderHealth(tmp_path / "h.json"))
    inner = c.stt.members[1].plugin.inner
    assert isinstance(inner, stt.StreamAdapter) and isinstance(inner._stt, openai.STT)


def test_a_backup_switched_on_needs_what_it_connects_with() -> None:
    with pytest.raises(ConfigError) as e:
        load_settings({**GOOD, "LLM_BACKUP": "openai", "STT_BACKUP": "openai"})
    msg = str(e.value)
    for name in ("LLM_BACKUP_MODEL", "LLM_BACKUP_API_KEY", "STT_BACKUP_MODEL",
                 "STT_BACKUP_API_KEY"):
        assert f"{name} is missing" in msg
    with pytest.raises(ConfigError, match="TTS_BACKUP='voice' must be one of off, deepgram"):
        load_settings({**GOOD, "TTS_BACKUP": "voice"})
    s = load_settings({**GOOD, "LLM_BACKUP": "openai", "LLM_BACKUP_MODEL": "m",
                       "LLM_BACKUP_API_KEY": "sk-backup-secret-1"})
    assert "sk-backup-secret-1" in s.secrets() and "sk-backup-secret-1" not in repr(s)


def test_health_is_shared_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "health.json"
    one, two = ProviderHealth(path, clock=lambda: 100.0), ProviderHealth(path)
    one.mark_down("llm:x@h", "failed")
    one.mark_down("llm:x@h", "again")  # the first time is kept
    assert two.down_since("llm:x@h") == 100.0
    two.mark_up("llm:x@h")
    assert one.down_since("llm:x@h") is None
    path.write_text("{not json")
    assert one.down_since("anything") is None  # a torn file is not a crash
    one.mark_down("tts:y@h", "failed")
    assert json.loads(path.read_text())["tts:y@h"]["reason"] == "failed"


async def test_a_primary_known_down_is_skipped_then_recovered_in_the_background(
        tmp_path: Path) -> None:
    async with ProviderEmulators(script=Script([reply("primary answer", repeat=True)])) as emu:
        emu.backup.script.add(reply("backup answer", repeat=True))
        first = chains(tmp_path, **emu.env(), **emu.backup_env())
        first.health.mark_down(first.llm.members[0].key, "an earlier call")
        c = chains(tmp_path, **emu.env(), **emu.backup_env())
        events: list[tuple[str, str]] = []
        c.connect(lambda k, d: events.append((k, d)))
        assert events[0][0] == "provider_fallback" and "known down" in events[0][1]
        ctx = llm.ChatContext()
        ctx.add_message(role="user", content="hi")
        text = ""
        async with c.llm.plugin.chat(chat_ctx=ctx) as stream:
            async for chunk in stream:
                text += chunk.delta.content or "" if chunk.delta else ""
        assert text == "backup answer"  # the call was served by the backup at once
        for _ in range(50):  # ...while the adapter checked the primary in the background
            if any(k == "provider_recovered" for k, _ in events):
                break
            await asyncio.sleep(0.1)
        assert ("provider_recovered", "llm: DeepSeek deepseek-v4-flash is healthy again "
                "(background check)") in events
        assert c.health.down_since(c.llm.members[0].key) is None  # for the next call too
        assert len(emu.llm_requests) == 1  # the check, not the caller's turn


def frames(pcm: bytes, rate: int = 16000) -> list[rtc.AudioFrame]:
    step = rate // 50
    return [rtc.AudioFrame(pcm[i * 2:(i + step) * 2].ljust(step * 2, b"\0"), rate, 1, step)
            for i in range(0, len(pcm) // 2, step)]


async def test_a_silent_stt_is_tripped_and_the_backup_hears_the_utterance_again() -> None:
    async with ProviderEmulators(stt_phrases=PHRASES) as emu, aiohttp.ClientSession() as http:
        env, backup_env = emu.env(), emu.backup_env()
        tape = AudioTape()
        primary = GuardedSTT(deepgram.STT(base_url=env["DEEPGRAM_BASE_URL"],
                                          api_key=env["DEEPGRAM_API_KEY"], http_session=http,
                                          endpointing_ms=300), tape)
        emu.faults.update({"stt_silent": True})
        stream = primary.stream()
        for f in frames(synthesize(PHRASES[0]) + silence(0.8)):
            stream.push_frame(f)
        await asyncio.sleep(1.0)
        assert primary.trip("silent: speech, no transcript") == 1
        with pytest.raises(APIConnectionError, match="silent"):
            async for _ in stream:
                pass
        assert tape.seconds > 1.0  # the utterance the primary swallowed
        backup = GuardedSTT(deepgram.STT(base_url=backup_env["STT_BACKUP_BASE_URL"],
                                         api_key=backup_env["STT_BACKUP_API_KEY"],
                                         http_session=http, endpointing_ms=300), tape)
        replayed = backup.stream()
        finals: list[str] = []

        async def read() -> None:
            async for ev in replayed:
                if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    finals.append(ev.alternatives[0].text)

        reader = asyncio.create_task(read())
        for _ in range(40):  # no live audio pushed: only the replay
            if finals:
                break
            await asyncio.sleep(0.1)
        reader.cancel()
        await replayed.aclose()
        assert finals == [PHRASES[0]]
