"""Hearing when the caller is done: Silero VAD, the end-of-turn detector, the endpointing
delays and the session's turn-handling options (every value with its reason).

All offline: the detector never falls through to LiveKit Cloud inference, so `dev` and `start`
behave the same against a self-hosted server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

from livekit.agents import TurnHandlingOptions, inference, vad
from livekit.agents.voice.turn import TurnDetectionMode
from livekit.plugins import silero

from ..config import Settings

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
