"""Deepgram Aura TTS emulator — provider-protocols.md §3 (`livekit.plugins.deepgram.TTS`).

- `GET /v1/speak` (websocket): `Authorization: Token <key>`, query `encoding=linear16`,
  `sample_rate`, `model`. Client → server: `{"type": "Speak", "text": "<word> "}` per word,
  `{"type": "Flush"}` at the end of a segment, `{"type": "Clear"}`, `{"type": "Close"}`.
  Server → client: a `Metadata` message on connect; per flush, binary frames of raw s16le PCM
  at `sample_rate`, then `{"type": "Flushed", "sequence_id": n}`; `Cleared` for a clear;
  `{"type": "Error", ...}` for a failure. Connections are pooled by the plugin and may idle.
- `POST /v1/speak?encoding=linear16&container=none&...` (REST): JSON `{"text": ...}`, raw PCM.

Audio is real espeak-ng speech (speech.py). The `tts_*` fault knobs of the state apply per
flushed segment: `tts_http_status` (handshake refused), `tts_error` (an `Error` message; the
value "close" closes the socket with 1011 instead), `tts_stall_s` (hold the first audio),
`tts_cut_after_chunks` (close mid-segment), `tts_withhold_final` (never `Flushed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from aiohttp import web

from .speech import synthesize
from .state import EmulatorState
from .wsjson import json_objects

CHUNK_S = 0.1  # audio per binary frame


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"err_code": code, "err_msg": message,
                              "request_id": str(uuid.uuid4())}, status=status)


class _SpeakSocket:
    def __init__(self, state: EmulatorState, ws: web.WebSocketResponse, rate: int) -> None:
        self.state = state
        self.ws = ws
        self.rate = rate
        self.buffer = ""
        self.sequence = 0
        self.jobs: asyncio.Queue[str | None] = asyncio.Queue()
        self.worker = asyncio.create_task(self._work())

    async def on_message(self, data: dict[str, Any]) -> bool:
        """Handle one client message; False once the socket should close."""
        kind = data.get("type")
        if kind == "Speak":
            if isinstance(data.get("text"), str):
                self.buffer += data["text"]
        elif kind == "Flush":
            self.jobs.put_nowait(self.buffer)
            self.buffer = ""
        elif kind == "Clear":
            self.buffer = ""
            await self._send({"type": "Cleared", "sequence_id": self.sequence})
        elif kind == "Close":
            self.jobs.put_nowait(None)
            await asyncio.gather(self.worker, return_exceptions=True)
            return False
        else:
            await self._send({"type": "Warning", "warn_code": "UNKNOWN_MESSAGE_TYPE",
                              "warn_msg": f"unknown message type {kind!r}"})
        return True

    async def _send(self, msg: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(msg))

    async def _work(self) -> None:
        while (text := await self.jobs.get()) is not None:
            await self._segment(" ".join(text.split()))
            self.sequence += 1

    async def _segment(self, text: str) -> None:
        state, faults, profile = self.state, self.state.faults, self.state.profile
        timing: dict[str, Any] = {"context_id": f"aura-{self.sequence}",
                                  "first_text_wall": time.time(), "first_job_wall": None,
                                  "first_job_text": text, "first_audio_wall": None}
        state.tts_timings.append(timing)
        if text:
            fault = faults.take("tts_error")
            if fault == "close":
                await self.ws.close(code=1011, message=b"emulated fault")
                return
            if fault:
                await self._send({"type": "Error", "err_code": "EMULATED_FAULT",
                                  "err_msg": str(fault), "description": str(fault)})
                return
            if stall := faults.take("tts_stall_s"):
                await asyncio.sleep(float(stall))
            cut_after = int(faults.take("tts_cut_after_chunks") or 0)
            timing["first_job_wall"] = time.time()
            state.tts_segments.append(text)
            pcm = await asyncio.get_running_loop().run_in_executor(None, synthesize, text,
                                                                   self.rate)
            if profile.tts_first_byte_ms:
                await asyncio.sleep(profile.tts_first_byte_ms / 1000.0)
            step = int(self.rate * CHUNK_S) * 2
            for sent, i in enumerate(range(0, len(pcm), step)):
                if sent and profile.tts_chunk_ms:
                    await asyncio.sleep(profile.tts_chunk_ms / 1000.0)
                if cut_after and sent >= cut_after:
                    await self.ws.close(code=1011, message=b"emulated fault: connection lost")
                    return
                if timing["first_audio_wall"] is None:
                    timing["first_audio_wall"] = time.time()
                if self.ws.closed:
                    return
                await self.ws.send_bytes(pcm[i:i + step])
            state.tts_texts.append(text)
            if faults.take("tts_withhold_final"):
                return
        await self._send({"type": "Flushed", "sequence_id": self.sequence})


class AuraEmulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def register(self, app: web.Application, prefix: str = "") -> None:
        app.router.add_get(f"{prefix}/v1/speak", self.speak_ws)
        app.router.add_post(f"{prefix}/v1/speak", self.speak_rest)

    def _check(self, request: web.Request) -> tuple[web.Response | None, int]:
        if request.headers.get("Authorization", "") != f"Token {self.state.deepgram_key}":
            return _error(401, "INVALID_AUTH", "Invalid credentials."), 0
        if status := self.state.faults.take("tts_http_status"):
            return _error(int(status), "EMULATED_FAULT", "Injected failure."), 0
        if request.query.get("encoding", "linear16") != "linear16":
            return _error(400, "UNSUPPORTED_ENCODING", "the emulator speaks linear16 only"), 0
        try:
            rate = int(request.query.get("sample_rate", "24000"))
        except ValueError:
            return _error(400, "INVALID_QUERY_PARAMETER", "sample_rate must be a number"), 0
        if rate not in (8000, 16000, 24000, 32000, 48000):
            return _error(400, "INVALID_QUERY_PARAMETER", f"unsupported sample_rate {rate}"), 0
        return None, rate

    async def speak_ws(self, request: web.Request) -> web.StreamResponse:
        self.state.tts_connections.append({
            "path": request.path, "query": dict(request.query),
            "authorization": request.headers.get("Authorization")})
        err, rate = self._check(request)
        if err is not None:
            return err
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        ws.headers["dg-request-id"] = str(uuid.uuid4())
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "Metadata", "request_id": str(uuid.uuid4()),
                                      "model_name": request.query.get("model", ""),
                                      "model_version": "2025-04-01.0",
                                      "model_uuid": str(uuid.uuid4())}))
        sock = _SpeakSocket(self.state, ws, rate)
        try:
            async for data in json_objects(ws, self.state.tts_messages):
                if not await sock.on_message(data):
                    break
        except ConnectionResetError:
            pass
        finally:
            sock.worker.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    async def speak_rest(self, request: web.Request) -> web.StreamResponse:
        err, rate = self._check(request)
        if err is not None:
            return err
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "INVALID_JSON", "body must be JSON")
        text = " ".join(str((body or {}).get("text", "")).split())
        self.state.tts_requests.append({"path": request.path, "query": dict(request.query),
                                        "body": body})
        if not text:
            return _error(400, "EMPTY_TEXT", "text is empty")
        self.state.tts_texts.append(text)
        pcm = await asyncio.get_running_loop().run_in_executor(None, synthesize, text, rate)
        resp = web.StreamResponse(headers={"Content-Type": "audio/l16",
                                           "dg-request-id": str(uuid.uuid4())})
        await resp.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            await resp.write(pcm)
            await resp.write_eof()
        return resp
