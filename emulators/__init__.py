"""Local, protocol-faithful emulators of Deepgram live STT, DeepSeek chat completions and
ElevenLabs streaming TTS, and of the backups the worker can fail over to: Deepgram Aura TTS,
an OpenAI-compatible chat endpoint and OpenAI-compatible transcription, under `/backup`
(see /work/shared/reference/provider-protocols.md).

They stand in for the real providers wherever there are no keys or no network: `make dev`
without provider keys, the demo, the benchmarks (`bench/`) and the test suite.
`python -m emulators --port 8700 --profile reference` runs them on their own."""

from .llm_script import Script, ToolCall, Turn, error, reply, tool_call
from .profiles import Faults, LatencyProfile
from .server import ProviderEmulators
from .state import DEEPGRAM_API_KEY, DEEPSEEK_API_KEY, ELEVEN_API_KEY, EmulatorState

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
