"""OpenAI-compatible speech-to-text emulator: `POST /v1/audio/transcriptions`, what the
official `livekit.plugins.openai.STT` sends for a non-realtime model (`recognize()`; the
session streams it through `stt.StreamAdapter` and the VAD).

Request: multipart form with `file` (a WAV), `model`, `response_format` (`json`, or
`verbose_json` for whisper-1), optional `language` / `prompt`; `Authorization: Bearer <key>`.
Response: `{"text": ...}` (verbose_json adds `language`, `duration`, `segments`). Errors use
OpenAI's body shape. Recognition is the same phrase-constrained recognizer as the Deepgram
emulator. Faults: `stt_reject_status` (the request is refused with that status), `stt_silent`
(the request is held without an answer, like a hung server).
"""

from __future__ import annotations

import asyncio
import io
import wave

from aiohttp import web

from .recognizer import get_recognizer
from .state import EmulatorState

MODELS = ("whisper-1", "gpt-4o-mini-transcribe", "gpt-4o-transcribe")
SILENT_HOLD_S = 120.0


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": None,
                                        "code": None}}, status=status)


class TranscriptionEmulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def register(self, app: web.Application, prefix: str = "") -> None:
        for version in ("", "/v1"):
            app.router.add_post(f"{prefix}{version}/audio/transcriptions", self.transcribe)

    async def transcribe(self, request: web.Request) -> web.Response:
        state = self.state
        state.stt_connections.append({"path": request.path, "query": dict(request.query),
                                      "authorization": request.headers.get("Authorization")})
        if request.headers.get("Authorization", "") != f"Bearer {state.deepseek_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if status := state.faults.take("stt_reject_status"):
            return _error(int(status), "The server had an error while processing your "
                          "request.", "server_error")
        if state.faults.take("stt_silent"):
            await asyncio.sleep(SILENT_HOLD_S)
        form = await request.post()
        upload = form.get("file")
        model = str(form.get("model", ""))
        if model not in MODELS:
            return _error(400, f"The model `{model}` does not exist.", "invalid_model")
        if upload is None or not hasattr(upload, "file"):
            return _error(400, "you must provide a file")
        try:
            with wave.open(io.BytesIO(upload.file.read())) as w:
                rate, pcm = w.getframerate(), w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            return _error(400, "Invalid file format.")
        phrases = list(state.stt_phrases)
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: get_recognizer(phrases).recognize(pcm, rate))
        text = result.text or ""
        if text:
            state.stt_transcripts.append(text)
        if str(form.get("response_format", "json")) == "verbose_json":
            duration = len(pcm) / 2 / rate
            return web.json_response({"task": "transcribe", "language": "english",
                                      "duration": duration, "text": text,
                                      "segments": [{"id": 0, "start": 0.0, "end": duration,
                                                    "text": text}] if text else []})
        return web.json_response({"text": text})
