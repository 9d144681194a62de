"""Local, protocol-faithful emulators of Deepgram live STT, DeepSeek chat completions and
ElevenLabs streaming TTS (see /work/shared/reference/provider-protocols.md)."""

from .llm_script import Script, ToolCall, Turn, error, reply, tool_call
from .profiles import Faults, LatencyProfile
from .server import (
    DEEPGRAM_API_KEY,
    DEEPSEEK_API_KEY,
    ELEVEN_API_KEY,
    EmulatorState,
    ProviderEmulators,
)

__all__ = [
    "DEEPGRAM_API_KEY",
    "DEEPSEEK_API_KEY",
    "ELEVEN_API_KEY",
    "EmulatorState",
    "Faults",
    "LatencyProfile",
    "ProviderEmulators",
    "Script",
    "ToolCall",
    "Turn",
    "error",
    "reply",
    "tool_call",
]
