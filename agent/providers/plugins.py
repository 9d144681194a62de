"""The official LiveKit plugins, configured: Deepgram STT, DeepSeek LLM (the OpenAI plugin's
base_url), ElevenLabs TTS, and the backups each stage can fail over to (a second Deepgram
endpoint or an OpenAI-compatible transcription endpoint, any OpenAI-compatible LLM, Deepgram
Aura TTS).

Only their endpoints change (`*_BASE_URL`), which is how the local emulators are plugged in.
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from urllib.parse import urlparse

import aiohttp
from livekit.agents import APIConnectOptions
from livekit.plugins import deepgram, elevenlabs, openai

from ..config import Settings
from .turns import stt_endpointing_ms

logger = logging.getLogger("phone-agent.providers")

# DeepSeek V4 thinks by default. In thinking mode it rejects the request that follows a tool
# call with HTTP 400 unless the assistant's `reasoning_content` is sent back, which the OpenAI
# plugin never does. Live turns must also not wait for reasoning tokens.
DEEPSEEK_EXTRA_BODY: dict[str, Any] = {"thinking": {"type": "disabled"}}

# How long the LLM may stay silent, and how often a failed request is retried, on a live call.
# The plugin defaults (10 s per read, 3 retries 2 s apart) let a silent DeepSeek hold the caller
# in dead air for up to ~44 s before anyone says anything.
# - timeout 4 s: httpx applies it to the connect and to EACH read (headers, every SSE line), not
#   to the whole answer. DeepSeek sends headers at once and `: keep-alive` comments while a
#   request is queued, and its non-thinking first token normally comes well under 2 s, so only
#   a server that is truly silent for 4 s is cut off.
# - one retry, immediate (the first retry always waits 0.1 s): a transient 5xx or a single hung
#   request is repaired within the turn; a persistent fault reaches the spoken apology
#   (agent/recovery/) after at most ~0.2 s (5xx) or ~8.1 s (4 + 0.1 + 4 s, silence).
# With a backup configured the FallbackAdapter's own, shorter policy applies instead
# (providers/failover.py).
LLM_CONN_OPTIONS = APIConnectOptions(max_retry=1, retry_interval=0.5, timeout=4.0)


# Words the caller is likely to say that generic models mishear on 8 kHz audio.
STT_KEYTERMS = ["appointment", "reschedule", "cancel", "order number", "representative"]

# The caller's audio as RoomIO hands it to the VAD and the STT: 16 kHz, the rate the Deepgram
# plugin streams at (its default sample_rate) and Silero runs at. With RoomIO's 24 kHz default,
# every 50 ms frame went through the STT stream's own 24->16 kHz resampler, which emits in
# uneven bursts (525/1051 samples per 1200 in) that straddle the plugin's 800-sample (50 ms)
# send chunks, so the last word reached Deepgram up to a chunk late. At 16 kHz the native
# AudioStream resamples from the Opus 48 kHz once and each 50 ms frame is exactly one chunk.
# Measured with `bench.latency --breakdown` (reference profile): caller's last sample -> that
# audio at the STT p50/p95 102/135 -> 65/83 ms; reply p50 1186 -> 1140 ms.
AUDIO_INPUT_SAMPLE_RATE = 16000

# ElevenLabs PCM at 24 kHz matches the room's audio output rate (no resampling on our side);
# the SIP bridge transcodes to the call codec. The 1.8.9 plugin rejects `ulaw_8000`.
TTS_ENCODING: Literal["pcm_24000"] = "pcm_24000"


def build_stt(settings: Settings, *, http_session: aiohttp.ClientSession | None = None
              ) -> deepgram.STT:
    kwargs: dict[str, Any] = {}
    if settings.deepgram_base_url:
        kwargs["base_url"] = settings.deepgram_base_url
    if settings.deepgram_model.startswith("nova-3"):  # keyterm prompting is nova-3 only
        kwargs["keyterm"] = STT_KEYTERMS
    return deepgram.STT(
        model=settings.deepgram_model,
        language=settings.deepgram_language,
        interim_results=True,
        punctuate=True,
        smart_format=False,  # numbers as words keep order ids intact for the LLM to parse
        endpointing_ms=stt_endpointing_ms(settings),  # see stt_endpointing_ms
        filler_words=True,
        vad_events=True,
        utterance_end_ms=1000,
        api_key=settings.deepgram_api_key,
        http_session=http_session,
        **kwargs,
    )


def build_llm(settings: Settings) -> openai.LLM:
    return openai.LLM(
        model=settings.deepseek_model,
        base_url=settings.deepseek_base_url,
        api_key=settings.deepseek_api_key,
        temperature=0.4,  # steady wording on the phone, still natural
        parallel_tool_calls=False,  # one action at a time, each confirmed with the caller
        extra_body=DEEPSEEK_EXTRA_BODY,
    )


def build_summary_llm(settings: Settings) -> openai.LLM:
    """DeepSeek for the after-call summary (agent/analysis): same model and endpoint, thinking
    as SUMMARY_THINKING says. Nobody waits for it, and the request carries no tool calls, so
    thinking's reasoning_content never has to be sent back."""
    thinking = "enabled" if settings.summary_thinking else "disabled"
    return openai.LLM(
        model=settings.deepseek_model,
        base_url=settings.deepseek_base_url,
        api_key=settings.deepseek_api_key,
        extra_body={"thinking": {"type": thinking}},
    )


def build_tts(settings: Settings, *, http_session: aiohttp.ClientSession | None = None
              ) -> elevenlabs.TTS:
    kwargs: dict[str, Any] = {}
    if settings.elevenlabs_base_url:
        kwargs["base_url"] = settings.elevenlabs_base_url
    return elevenlabs.TTS(
        voice_id=settings.elevenlabs_voice_id,
        model=settings.elevenlabs_model,
        encoding=TTS_ENCODING,
        api_key=settings.eleven_api_key,
        # The agent's own normalizer (agent/speech_text/) already spells numbers out.
        apply_text_normalization="off",
        http_session=http_session,
        **kwargs,
    )


# --- the backups ------------------------------------------------------------------------------


def host_of(base_url: str | None, default: str) -> str:
    """The host a provider is reached at (logs, the call record, health keys): no secrets."""
    return urlparse(base_url).netloc if base_url else default


def build_backup_stt(settings: Settings, *, http_session: aiohttp.ClientSession | None = None
                     ) -> deepgram.STT | openai.STT:
    """STT_BACKUP=deepgram: the primary's options on another endpoint/model/key.
    STT_BACKUP=openai: an OpenAI-compatible transcription endpoint; it does not stream, so the
    fallback adapter wraps it in `stt.StreamAdapter` with the session's VAD."""
    if settings.stt_backup == "openai":
        assert settings.stt_backup_model and settings.stt_backup_api_key  # config.py checks
        kwargs: dict[str, Any] = {}
        if settings.stt_backup_base_url:
            kwargs["base_url"] = settings.stt_backup_base_url
        return openai.STT(model=settings.stt_backup_model, api_key=settings.stt_backup_api_key,
                          language=settings.deepgram_language.split("-")[0], **kwargs)
    model = settings.stt_backup_model or settings.deepgram_model
    kwargs = {"keyterm": STT_KEYTERMS} if model.startswith("nova-3") else {}
    if settings.stt_backup_base_url:
        kwargs["base_url"] = settings.stt_backup_base_url
    return deepgram.STT(
        model=model, language=settings.deepgram_language, interim_results=True, punctuate=True,
        smart_format=False, endpointing_ms=stt_endpointing_ms(settings), filler_words=True,
        vad_events=True, utterance_end_ms=1000,
        api_key=settings.stt_backup_api_key or settings.deepgram_api_key,
        http_session=http_session, **kwargs)


def build_backup_llm(settings: Settings) -> openai.LLM:
    """Any OpenAI-compatible endpoint. DeepSeek's `thinking` switch is sent only to DeepSeek
    models: OpenAI's API (and others) refuse unknown fields with HTTP 400."""
    assert settings.llm_backup_model and settings.llm_backup_api_key  # config.py checks
    deepseek = settings.llm_backup_model.startswith("deepseek")
    kwargs: dict[str, Any] = {"extra_body": DEEPSEEK_EXTRA_BODY} if deepseek else {}
    return openai.LLM(model=settings.llm_backup_model, base_url=settings.llm_backup_base_url,
                      api_key=settings.llm_backup_api_key, temperature=0.4,
                      parallel_tool_calls=False, **kwargs)


# Deepgram Aura at 24 kHz, the room's output rate, like the primary voice: the fallback
# adapter then never resamples.
AURA_SAMPLE_RATE = 24000


def build_backup_tts(settings: Settings, *, http_session: aiohttp.ClientSession | None = None
                     ) -> deepgram.TTS:
    kwargs: dict[str, Any] = {}
    if settings.tts_backup_base_url:
        kwargs["base_url"] = settings.tts_backup_base_url
    return deepgram.TTS(model=settings.tts_backup_model, encoding="linear16",
                        sample_rate=AURA_SAMPLE_RATE,
                        api_key=settings.tts_backup_api_key or settings.deepgram_api_key,
                        http_session=http_session, **kwargs)
