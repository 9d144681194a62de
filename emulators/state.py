"""What the emulators of one endpoint set share: the script, latency profile, faults and STT
phrases they follow, and everything they capture. Its own module so the provider modules and
the server that hosts them both import it without importing each other.

`EmulatorState.backup()` is the state of the second endpoint set (server.py mounts it under
`/backup`): its own keys, model, script, faults and captures, so a test can fail the primary
and watch the backup take over."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .llm_script import Script
from .profiles import Faults, LatencyProfile

DEEPSEEK_API_KEY = "sk-emu-2f6c1d9e8b7a4c3d5e6f7a8b9c0d1e2f"
DEEPGRAM_API_KEY = "emu7d3f1a9c2b4e6d8f0a1c3e5b7d9f1a3c5e7b9d"
ELEVEN_API_KEY = "sk_emu_4c2e8a6f1d3b5c7e9a0b2d4f6a8c0e2b4d6f8a1c3e5b7d9"
# The backup endpoints' own credentials and model (an OpenAI-compatible vendor, a second
# Deepgram account).
BACKUP_LLM_API_KEY = "sk-emu-backup-7e1b3d5f9a2c4e6b8d0f1a3c5e7b9d2f"
BACKUP_DEEPGRAM_API_KEY = "emubackup4a6c8e0b2d4f6a8c1e3b5d7f9a2c4e6b8d0f"
BACKUP_LLM_MODEL = "gpt-4.1-mini"
DEEPSEEK_THINKING_MODELS = ("deepseek-flash", "deepseek-v4-flash", "deepseek-v4-pro")


@dataclass
class EmulatorState:
    script: Script = field(default_factory=Script)
    profile: LatencyProfile = field(default_factory=LatencyProfile.none)
    faults: Faults = field(default_factory=Faults)
    stt_phrases: list[str] = field(default_factory=list)
    deepseek_key: str = DEEPSEEK_API_KEY
    deepgram_key: str = DEEPGRAM_API_KEY
    eleven_key: str = ELEVEN_API_KEY
    deepseek_models: tuple[str, ...] = DEEPSEEK_THINKING_MODELS
    thinking_models: tuple[str, ...] = DEEPSEEK_THINKING_MODELS  # thinking on by default
    model_owner: str = "deepseek"
    reject_unknown_fields: bool = False  # OpenAI's API refuses DeepSeek's `thinking` field
    # captures
    llm_requests: list[dict[str, Any]] = field(default_factory=list)
    llm_headers: list[dict[str, str]] = field(default_factory=list)
    llm_responses: list[dict[str, Any]] = field(default_factory=list)
    # per chat request: wall clock (time.time()) received / first content / stream end
    llm_timings: list[dict[str, Any]] = field(default_factory=list)
    stt_connections: list[dict[str, Any]] = field(default_factory=list)
    stt_messages: list[dict[str, Any]] = field(default_factory=list)  # text frames from client
    stt_events: list[dict[str, Any]] = field(default_factory=list)  # messages sent to client
    stt_transcripts: list[str] = field(default_factory=list)
    # per final: audio times (s) of speech start/end and of the moment the final was sent
    stt_timings: list[dict[str, Any]] = field(default_factory=list)
    tts_connections: list[dict[str, Any]] = field(default_factory=list)
    tts_messages: list[dict[str, Any]] = field(default_factory=list)  # text frames from client
    tts_requests: list[dict[str, Any]] = field(default_factory=list)  # REST bodies
    tts_texts: list[str] = field(default_factory=list)  # per finished context / REST request
    tts_segments: list[str] = field(default_factory=list)  # per synthesized flush chunk
    # per websocket context: wall clock (time.time()) of its first text, first synthesis job
    # (flush / schedule cut) and first audio message sent
    tts_timings: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def backup(cls, stt_phrases: list[str] | None = None) -> EmulatorState:
        return cls(stt_phrases=list(stt_phrases or []), deepseek_key=BACKUP_LLM_API_KEY,
                   deepgram_key=BACKUP_DEEPGRAM_API_KEY, deepseek_models=(BACKUP_LLM_MODEL,),
                   thinking_models=(), model_owner="openai", reject_unknown_fields=True)

    def clear_captures(self) -> None:
        """Forget everything captured so far (requests, transcripts, texts, timings and the
        faults' fired log), in place: a test then sees only its own call's traffic, not the
        summary requests or faulted turns of the tests before it on the same emulators."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list) and f.name != "stt_phrases":
                value.clear()
        self.faults.fired.clear()
