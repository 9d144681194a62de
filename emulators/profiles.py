"""Latency profiles and fault knobs shared by the provider emulators.

`LatencyProfile` shapes timing (all values in milliseconds unless the name says otherwise):

- `stt_final_delay_ms`: audio time between the end of speech and the final Deepgram `Results`
  (is_final + speech_final). The emulator never goes below its silence hangover (120 ms), which
  it needs to notice that speech ended.
- `llm_first_token_ms`: wall time between the request and the first content/tool chunk.
- `llm_tokens_per_s`: pacing of the following chunks (0 = as fast as possible).
- `tts_first_byte_ms`: wall time between a flush and the first audio message of that chunk.
- `tts_chunk_ms`: wall time between consecutive audio messages (0 = no pacing).

`Faults` is a mutable bag of knobs. Tests flip them at runtime; every knob fires a bounded number
of times (its `*_count`, default 1) and then disarms itself so the session can recover.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LatencyProfile:
    stt_final_delay_ms: float = 0.0
    llm_first_token_ms: float = 0.0
    llm_tokens_per_s: float = 0.0
    tts_first_byte_ms: float = 0.0
    tts_chunk_ms: float = 0.0

    @classmethod
    def none(cls) -> LatencyProfile:
        """As fast as possible (the STT still needs its ≤120 ms hangover to see end of speech)."""
        return cls()

    @classmethod
    def reference(cls) -> LatencyProfile:
        """Plausible production numbers: STT final 150 ms after end of speech, LLM first token
        after 350 ms then 40 tokens/s, TTS first byte after 150 ms, audio sent ~4x real time."""
        return cls(stt_final_delay_ms=150, llm_first_token_ms=350, llm_tokens_per_s=40,
                   tts_first_byte_ms=150, tts_chunk_ms=25)

    @classmethod
    def named(cls, name: str) -> LatencyProfile:
        if name == "none":
            return cls.none()
        if name == "reference":
            return cls.reference()
        raise ValueError(f"unknown latency profile {name!r} (none|reference)")


# knob name -> name of its counter
_COUNTED = {
    "llm_error_status": "llm_error_count",
    "llm_stall_s": "llm_stall_count",
    "llm_keepalive_s": "llm_keepalive_count",
    "llm_malformed": "llm_malformed_count",
    "llm_stream_error": "llm_stream_error_count",
    "llm_cut_after": "llm_cut_count",
    "llm_empty_stream": "llm_empty_stream_count",
    "llm_ignore_tool_choice": "llm_ignore_tool_choice_count",
    "stt_drop_after_s": "stt_drop_count",
    "stt_drop_in_speech_s": "stt_drop_in_speech_count",
    "stt_reject_status": "stt_reject_count",
    "stt_silent": "stt_silent_count",
    "tts_error": "tts_error_count",
    "tts_stall_s": "tts_stall_count",
    "tts_http_status": "tts_http_count",
    "tts_withhold_final": "tts_withhold_final_count",
    "tts_cut_after_chunks": "tts_cut_count",
}


@dataclass
class Faults:
    """Fault-injection knobs. Falsy value = disarmed.

    LLM (DeepSeek):
      llm_error_status / llm_error_count: answer the next N chat requests with this HTTP status.
      llm_stall_s: hold the next response this long before sending any byte (no headers).
      llm_keepalive_s: send headers, then `: keep-alive` SSE comments for this long (DeepSeek's
        "queued" behaviour) before the answer.
      llm_malformed: after the role chunk, send a garbage (non-JSON) SSE data line and end.
      llm_stream_error: after the role chunk, send a `data: {"error": ...}` event and end.
      llm_cut_after: after this many content pieces, drop the connection (no finish chunk, no
        `[DONE]`, the chunked body never terminated): a network cut mid-answer.
      llm_empty_stream: send the role chunk, then end the body cleanly with no text, no finish
        chunk and no `[DONE]` (a stream that ends without anything speakable).
      llm_ignore_tool_choice: answer like an endpoint that ignores `tool_choice` and `tools`
        (scripted tool calls are sent even when the request says `tool_choice: "none"`).
    STT (Deepgram):
      stt_drop_after_s: after this much audio on a connection, close it abruptly with 1011.
      stt_drop_in_speech_s: close the connection (1011) once an utterance has gone on this long
        (the socket lost mid-utterance).
      stt_reject_status: refuse the next websocket handshake(s) with this HTTP status.
      stt_silent: accept the next connection(s), read the audio, and never answer (no
        SpeechStarted, no Results): connected but silent.
    TTS (ElevenLabs):
      tts_error: the next context gets `{"error": <text>}` instead of audio; the special value
        "close" closes the websocket abruptly with code 1011 instead.
      tts_stall_s: hold the next context's first audio this long.
      tts_http_status: refuse the next handshake / REST request with this HTTP status.
      tts_withhold_final: never send `isFinal` for the next context (plugin times out).
      tts_cut_after_chunks: close the websocket (1011) after this many audio messages of the
        next context: the connection lost mid-sentence.
    The backup endpoints (`ProviderEmulators.backup`) have their own `Faults`; the Deepgram Aura
    TTS emulator obeys the same `tts_*` knobs (`Flushed` plays the part of `isFinal`).
    """

    llm_error_status: int | None = None
    llm_error_count: int = 1
    llm_stall_s: float = 0.0
    llm_stall_count: int = 1
    llm_keepalive_s: float = 0.0
    llm_keepalive_count: int = 1
    llm_malformed: bool = False
    llm_malformed_count: int = 1
    llm_stream_error: bool = False
    llm_stream_error_count: int = 1
    llm_cut_after: int = 0
    llm_cut_count: int = 1
    llm_empty_stream: bool = False
    llm_empty_stream_count: int = 1
    llm_ignore_tool_choice: bool = False
    llm_ignore_tool_choice_count: int = 1
    stt_drop_after_s: float | None = None
    stt_drop_count: int = 1
    stt_drop_in_speech_s: float = 0.0
    stt_drop_in_speech_count: int = 1
    stt_reject_status: int | None = None
    stt_reject_count: int = 1
    stt_silent: bool = False
    stt_silent_count: int = 1
    tts_error: str | None = None
    tts_error_count: int = 1
    tts_stall_s: float = 0.0
    tts_stall_count: int = 1
    tts_http_status: int | None = None
    tts_http_count: int = 1
    tts_withhold_final: bool = False
    tts_withhold_final_count: int = 1
    tts_cut_after_chunks: int = 0
    tts_cut_count: int = 1
    fired: list[str] = field(default_factory=list)  # log of knobs that fired, in order
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def peek(self, knob: str) -> Any:
        with self._lock:
            value = getattr(self, knob)
            count = getattr(self, _COUNTED[knob])
            return value if value and count > 0 else None

    def take(self, knob: str) -> Any:
        """Return the knob's value if armed and consume one shot (disarming at zero)."""
        with self._lock:
            value = getattr(self, knob)
            count_name = _COUNTED[knob]
            count = getattr(self, count_name)
            if not value or count <= 0:
                return None
            count -= 1
            if count <= 0:
                default = _DEFAULTS[knob]
                setattr(self, knob, default)
                count = 1  # ready for the next arming
            setattr(self, count_name, count)
            self.fired.append(knob)
            return value

    def update(self, knobs: dict[str, Any]) -> None:
        """Set knobs from a dict (the control endpoint). Unknown names raise KeyError."""
        with self._lock:
            for name, value in knobs.items():
                if name.startswith("_") or name == "fired" or name not in _FIELD_NAMES:
                    raise KeyError(f"unknown fault knob {name!r}")
                setattr(self, name, value)

    def reset(self) -> None:
        with self._lock:
            for name, default in _DEFAULTS_ALL.items():
                setattr(self, name, default)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if not f.name.startswith("_")}


_FIELD_NAMES = {f.name for f in dataclasses.fields(Faults)}
_DEFAULTS_ALL = {f.name: f.default for f in dataclasses.fields(Faults)
                 if not f.name.startswith("_") and f.name != "fired"}
_DEFAULTS = {k: _DEFAULTS_ALL[k] for k in _COUNTED}
