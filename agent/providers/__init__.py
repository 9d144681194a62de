"""The speech pipeline's providers: turn detection (`turns`), the official plugins and their
backups (`plugins`), and per call the failover chains around them (`failover`, with
`health`: what every call of the worker knows is down, and `stt_guard`)."""

from .failover import CallProviders, Chain, Member
from .health import ProviderHealth
from .plugins import (
    AUDIO_INPUT_SAMPLE_RATE,
    DEEPSEEK_EXTRA_BODY,
    LLM_CONN_OPTIONS,
    STT_KEYTERMS,
    TTS_ENCODING,
    build_backup_llm,
    build_backup_stt,
    build_backup_tts,
    build_llm,
    build_stt,
    build_summary_llm,
    build_tts,
)
from .turns import (
    DETECTOR_STT_ENDPOINTING_MS,
    EndpointingDelays,
    TurnDetectorChoice,
    TurnDetectorKind,
    build_turn_detector,
    choose_turn_detector,
    endpointing_delays,
    load_vad,
    semantic_model_available,
    stt_endpointing_ms,
    turn_handling,
)

__all__ = [
    "AUDIO_INPUT_SAMPLE_RATE",
    "DEEPSEEK_EXTRA_BODY",
    "DETECTOR_STT_ENDPOINTING_MS",
    "LLM_CONN_OPTIONS",
    "STT_KEYTERMS",
    "TTS_ENCODING",
    "CallProviders",
    "Chain",
    "EndpointingDelays",
    "Member",
    "ProviderHealth",
    "TurnDetectorChoice",
    "TurnDetectorKind",
    "build_backup_llm",
    "build_backup_stt",
    "build_backup_tts",
    "build_llm",
    "build_stt",
    "build_summary_llm",
    "build_tts",
    "build_turn_detector",
    "choose_turn_detector",
    "endpointing_delays",
    "load_vad",
    "semantic_model_available",
    "stt_endpointing_ms",
    "turn_handling",
]
