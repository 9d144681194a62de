"""Construction of the speech pipeline: VAD, turn detection, Deepgram STT, DeepSeek LLM,
ElevenLabs TTS, and the turn-handling options that tie them together.

Everything here uses the official LiveKit plugins; only their endpoints change (`*_BASE_URL`),
which is how the local provider emulators are plugged in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import aiohttp
from livekit.agents import APIConnectOptions, TurnHandlingOptions, inference, vad
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.turn import TurnDetectionMode
from livekit.plugins import deepgram, elevenlabs, openai, silero

from .config import Settings

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
#   (observability/calls.py) after at most ~0.2 s (5xx) or ~8.1 s (4 + 0.1 + 4 s, silence).
LLM_CONN_OPTIONS = APIConnectOptions(max_retry=1, retry_interval=0.5, timeout=4.0)


def session_conn_options() -> SessionConnectOptions:
    """STT and TTS keep the plugin defaults (STT reconnects on its own, TTS retries only before
    audio); only the LLM's policy changes."""
    return SessionConnectOptions(llm_conn_options=LLM_CONN_OPTIONS)


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

# The text turn-detector plugin's model revision we would use, and the file that must be cached.
_SEMANTIC_MODEL_REPO = "livekit/turn-detector"
_SEMANTIC_MODEL_FILE = "onnx/model_q8.onnx"


def load_vad() -> vad.VAD:
    """Silero VAD, tuned for phone audio. Called once per worker process (prewarm).

    min_silence_duration 0.3 s: the VAD's end-of-speech is the start of every endpointing
    decision, so a long hangover adds directly to response latency; the turn detector and the
    endpointing delay, not the VAD, decide whether the caller is done.
    """
    return silero.VAD.load(min_speech_duration=0.05, min_silence_duration=0.3,
                           prefix_padding_duration=0.3, activation_threshold=0.5)


def semantic_model_available() -> str | None:
    """Revision of the text turn-detector model if its files are in the local HF cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with the plugin
        return None
    for revision in ("v1.2.2-en", "v0.4.1-intl"):
        found = try_to_load_from_cache(_SEMANTIC_MODEL_REPO, _SEMANTIC_MODEL_FILE,
                                       revision=revision)
        if isinstance(found, str):
            return revision
    return None


TurnDetectorKind = Literal["semantic", "audio", "stt", "vad"]


_KINDS: dict[str, TurnDetectorKind] = {"semantic": "semantic", "audio": "audio", "stt": "stt",
                                       "vad": "vad"}


class EndpointingDelays(TypedDict):
    min_delay: float
    max_delay: float


@dataclass(frozen=True)
class TurnDetectorChoice:
    kind: TurnDetectorKind
    reason: str


def choose_turn_detector(setting: str) -> TurnDetectorChoice:
    """Resolve TURN_DETECTOR. `auto` prefers the semantic model and falls back to LiveKit's
    bundled offline audio model; it never falls through to LiveKit Cloud inference."""
    if setting == "auto":
        revision = semantic_model_available()
        if revision:
            return TurnDetectorChoice("semantic", f"text model {revision} found in local cache")
        return TurnDetectorChoice(
            "audio", "text model files not downloaded; using bundled offline v1-mini audio model"
        )
    if setting == "semantic" and not semantic_model_available():
        raise RuntimeError(
            "TURN_DETECTOR=semantic but the turn-detector model is not downloaded; run "
            "`python -m livekit.agents download-files` on a connected machine, or use "
            "TURN_DETECTOR=auto"
        )
    return TurnDetectorChoice(_KINDS[setting], f"TURN_DETECTOR={setting}")


def build_turn_detector(choice: TurnDetectorChoice) -> TurnDetectionMode:
    if choice.kind == "semantic":
        # Imported only here: importing the plugin registers an inference subprocess.
        from livekit.plugins.turn_detector.multilingual import MultilingualModel

        return MultilingualModel()
    if choice.kind == "audio":
        # Pinned version: without it, dev mode resolves to the cloud `v1` model.
        return inference.TurnDetector(version="v1-mini")
    return "stt" if choice.kind == "stt" else "vad"  # the session's built-in modes


# Deepgram `endpointing` when a turn detector (semantic/audio) or the VAD decides the turn:
# 300 ms of silence closes a transcript segment (the 25 ms plugin default splits phone sentences
# at every breath); the session's MIN/MAX_ENDPOINTING_DELAY and the detector decide the turn.
DETECTOR_STT_ENDPOINTING_MS = 300


def stt_endpointing_ms(settings: Settings) -> int:
    """Deepgram `endpointing`: the silence after which it sends `speech_final`.

    With TURN_DETECTOR=stt that `speech_final` IS the end of the turn, so Deepgram's
    endpointing carries the whole MIN_ENDPOINTING_DELAY (at least 10 ms: 0 would disable
    endpointing, and no turn would end before the 1 s UtteranceEnd)."""
    if settings.turn_detector == "stt":
        return max(10, round(settings.min_endpointing_delay * 1000))
    return DETECTOR_STT_ENDPOINTING_MS


def endpointing_delays(settings: Settings, kind: str) -> EndpointingDelays:
    """The session's endpointing min/max delays for the turn detector `kind`.

    In `stt` mode the session's min delay is 0: Deepgram already waited MIN_ENDPOINTING_DELAY
    of silence before its `speech_final` (`stt_endpointing_ms`). livekit-agents 1.8.9
    (voice/audio_recognition.py, END_OF_SPEECH in stt mode) anchors the min delay at the
    END_OF_SPEECH event's `speech_end_time`, which the Deepgram plugin never sets, so it falls
    back to the arrival time of the final: a non-zero min delay is added ON TOP of Deepgram's
    endpointing instead of overlapping it. Measured with `bench.latency` (reference profile),
    min_delay 0.3 -> 0 removed ~300 ms from every reply: final -> LLM request p50 333 -> 36 ms,
    caller-measured p50/p95 1481/1513 -> 1186/1217 ms, with the same 300 ms of silence.
    The max delay only matters with a turn detector (it never runs in `stt` mode)."""
    min_delay = 0.0 if kind == "stt" else settings.min_endpointing_delay
    return EndpointingDelays(min_delay=min_delay, max_delay=settings.max_endpointing_delay)


def turn_handling(settings: Settings, choice: TurnDetectorChoice) -> TurnHandlingOptions:
    """Turn-taking for phone callers; every value is set on purpose.

    - endpointing fixed at MIN/MAX_ENDPOINTING_DELAY (0.3 s / 2.0 s): 0.3 s after the caller
      stops is the shortest pause that doesn't cut people off mid-sentence when a turn
      detector backs it; 2.0 s caps the wait when the detector thinks they will go on (the
      2.5 s library default feels like dead air on the phone). In `stt` mode the silence
      wait is Deepgram's instead, see `endpointing_delays`.
    - interruption mode "vad": the adaptive mode is a LiveKit Cloud model; VAD works offline
      and the same in dev and start. min_duration 0.5 s of speech so a cough, a click on the
      line or a short "mm-hmm" doesn't cut the agent off; min_words 0 so barge-in doesn't
      wait for a transcript (which costs a network round trip).
    - resume_false_interruption with a 1.0 s timeout: if the "interruption" produced no words
      within a second (noise, a backchannel), the agent picks up its sentence where it paused.
    - preemptive_generation: the LLM starts on the final transcript while endpointing is
      still deciding, hiding most of its first-token latency; discarded if the caller goes on.
    """
    delays = endpointing_delays(settings, choice.kind)
    return {
        "turn_detection": build_turn_detector(choice),
        "endpointing": {"mode": "fixed", "min_delay": delays["min_delay"],
                        "max_delay": delays["max_delay"]},
        "interruption": {
            "enabled": True,
            "mode": "vad",
            "min_duration": 0.5,
            "min_words": 0,
            "resume_false_interruption": True,
            "false_interruption_timeout": 1.0,
            "discard_audio_if_uninterruptible": True,
        },
        "preemptive_generation": {"enabled": True, "max_retries": 3},
    }


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
