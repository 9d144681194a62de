"""ElevenLabs TTS emulator — provider-protocols.md §4.

- `GET /v1/text-to-speech/{voice_id}/multi-stream-input` (websocket, multi-context)
- `POST /v1/text-to-speech/{voice_id}/stream` and `POST /v1/text-to-speech/{voice_id}` (REST)
- `GET /v1/voices`

Audio is real espeak-ng speech (speech.py) in the requested `output_format`
(pcm_8000/16000/22050/24000/32000/44100/48000 raw s16le mono, or mp3_<rate>_<kbps> via PyAV).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .speech import encode_mp3, synthesize
from .state import EmulatorState
from .wsjson import json_objects

PCM_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
MP3_RATES = (22050, 24000, 44100)
CHUNK_S = 0.1  # audio per websocket message / REST chunk


def parse_format(fmt: str) -> tuple[str, int, int]:
    """Return (codec, sample_rate, bitrate_kbps); raise ValueError when unsupported."""
    parts = fmt.split("_")
    try:
        if parts[0] == "pcm" and len(parts) == 2 and int(parts[1]) in PCM_RATES:
            return "pcm", int(parts[1]), 0
        if parts[0] == "mp3" and len(parts) == 3 and int(parts[1]) in MP3_RATES:
            return "mp3", int(parts[1]), int(parts[2])
    except ValueError:
        pass
    raise ValueError(f"output_format {fmt!r} is not supported by the emulator "
                     f"(pcm_{{{','.join(map(str, PCM_RATES))}}} or mp3_<22050|24000|44100>_<kbps>)")


def _alignment(text: str, start_ms: float, duration_ms: float) -> dict[str, list[Any]]:
    chars = list(text)
    if not chars:
        return {"chars": [], "charStartTimesMs": [], "charsDurationsMs": []}
    step = duration_ms / len(chars)
    return {"chars": chars,
            "charStartTimesMs": [round(start_ms + i * step) for i in range(len(chars))],
            "charsDurationsMs": [max(1, round(step))] * len(chars)}


@dataclass
class _Context:
    id: str
    buffer: str = ""
    clock_ms: float = 0.0
    spoken: list[str] = field(default_factory=list)
    jobs: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    first_audio: bool = True
    dead: bool = False
    cut_after: int = 0  # audio messages before the socket is cut (`tts_cut_after_chunks`)
    sent: int = 0
    # wall clock (time.time()) of the first text, first synthesis job and first audio sent;
    # the same dict is appended to state.tts_timings
    timing: dict[str, Any] = field(default_factory=dict)


class _Socket:
    def __init__(self, state: EmulatorState, ws: web.WebSocketResponse, codec: str, rate: int,
                 kbps: int, auto_mode: bool) -> None:
        self.state = state
        self.ws = ws
        self.codec, self.rate, self.kbps = codec, rate, kbps
        self.auto_mode = auto_mode
        self.contexts: dict[str, _Context] = {}
        self.schedule_first = 120
        self.closing = False

    async def send(self, msg: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(msg))

    def context(self, cid: str, data: dict[str, Any]) -> _Context:
        ctx = self.contexts.get(cid)
        if ctx is None:
            ctx = _Context(cid)
            ctx.timing = {"context_id": cid, "first_text_wall": None, "first_job_wall": None,
                          "first_job_text": None, "first_audio_wall": None}
            self.state.tts_timings.append(ctx.timing)
            self.contexts[cid] = ctx
            gen = data.get("generation_config") or {}
            if gen.get("chunk_length_schedule"):
                self.schedule_first = int(gen["chunk_length_schedule"][0])
            ctx.worker = asyncio.create_task(self._work(ctx))
        return ctx

    async def on_message(self, data: dict[str, Any]) -> None:
        if data.get("close_socket"):
            for ctx in list(self.contexts.values()):
                self._enqueue_rest(ctx, final=True)
            await asyncio.gather(*(c.worker for c in self.contexts.values() if c.worker),
                                 return_exceptions=True)
            self.closing = True
            await self.ws.close(code=1000)
            return
        cid = data.get("context_id") or data.get("contextId") or ""
        ctx = self.context(cid, data)
        if ctx.dead:
            return
        if data.get("keep_alive"):
            return
        text = data.get("text")
        if isinstance(text, str):
            if text.strip() and ctx.timing.get("first_text_wall") is None:
                ctx.timing["first_text_wall"] = time.time()
            ctx.buffer += text
        if data.get("close_context"):
            self._enqueue_rest(ctx, final=True)
        elif data.get("flush"):
            self._enqueue_rest(ctx, final=False)
        elif not self.auto_mode and len(ctx.buffer) >= self.schedule_first:
            cut = ctx.buffer.rfind(" ")
            if cut > 0:
                ctx.jobs.put_nowait(("speak", ctx.buffer[:cut]))
                ctx.buffer = ctx.buffer[cut:]

    def _enqueue_rest(self, ctx: _Context, *, final: bool) -> None:
        if ctx.buffer.strip():
            ctx.jobs.put_nowait(("speak", ctx.buffer))
        ctx.buffer = ""
        if final:
            ctx.jobs.put_nowait(("final", ""))

    async def _work(self, ctx: _Context) -> None:
        state = self.state
        while True:
            kind, text = await ctx.jobs.get()
            if kind == "final":
                state.tts_texts.append(" ".join(" ".join(ctx.spoken).split()))
                self.contexts.pop(ctx.id, None)
                if state.faults.take("tts_withhold_final"):
                    return
                await self.send({"isFinal": True, "contextId": ctx.id})
                return
            text = " ".join(text.split())
            if not text:
                continue
            if ctx.first_audio:
                ctx.first_audio = False
                fault = state.faults.take("tts_error")
                if fault == "close":
                    await self.ws.close(code=1011, message=b"emulated fault")
                    return
                if fault:
                    ctx.dead = True
                    self.contexts.pop(ctx.id, None)
                    await self.send({"error": str(fault), "message": str(fault),
                                     "code": 1011, "contextId": ctx.id})
                    return
                stall = state.faults.take("tts_stall_s")
                if stall:
                    await asyncio.sleep(float(stall))
                ctx.cut_after = int(state.faults.take("tts_cut_after_chunks") or 0)
            if ctx.timing.get("first_job_wall") is None:
                ctx.timing["first_job_wall"] = time.time()
                ctx.timing["first_job_text"] = text
            ctx.spoken.append(text)
            state.tts_segments.append(text)
            await self._speak(ctx, text)

    async def _speak(self, ctx: _Context, text: str) -> None:
        profile = self.state.profile
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(None, synthesize, text, self.rate)
        if profile.tts_first_byte_ms:
            await asyncio.sleep(profile.tts_first_byte_ms / 1000.0)
        duration_ms = len(pcm) / 2 / self.rate * 1000.0
        align = _alignment(text, ctx.clock_ms, duration_ms)
        ctx.clock_ms += duration_ms
        chunks = await loop.run_in_executor(None, encode_chunks, pcm, self.codec, self.rate,
                                            self.kbps)
        for i, chunk in enumerate(chunks):
            if i and profile.tts_chunk_ms:
                await asyncio.sleep(profile.tts_chunk_ms / 1000.0)
            msg: dict[str, Any] = {"audio": base64.b64encode(chunk).decode(), "isFinal": None,
                                   "contextId": ctx.id}
            if i == 0:
                msg["normalizedAlignment"] = align
                msg["alignment"] = align
            if ctx.timing.get("first_audio_wall") is None:
                ctx.timing["first_audio_wall"] = time.time()
            if ctx.cut_after and ctx.sent >= ctx.cut_after:
                await self.ws.close(code=1011, message=b"emulated fault: connection lost")
                return
            ctx.sent += 1
            await self.send(msg)

    async def close(self) -> None:
        for ctx in self.contexts.values():
            if ctx.worker:
                ctx.worker.cancel()


def encode_chunks(pcm: bytes, codec: str, rate: int, kbps: int) -> list[bytes]:
    if codec == "mp3":
        data = encode_mp3(pcm, rate, kbps or 32)
        step = 2048
    else:
        data = pcm
        step = int(rate * CHUNK_S) * 2
    return [data[i:i + step] for i in range(0, len(data), step)] or [b""]


class ElevenLabsEmulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def register(self, app: web.Application, prefix: str = "") -> None:
        app.router.add_get(f"{prefix}/v1/text-to-speech/{{voice_id}}/multi-stream-input",
                           self.multi_stream)
        app.router.add_post(f"{prefix}/v1/text-to-speech/{{voice_id}}/stream", self.rest)
        app.router.add_post(f"{prefix}/v1/text-to-speech/{{voice_id}}", self.rest)
        app.router.add_get(f"{prefix}/v1/voices", self.voices)

    def _check(self, request: web.Request) -> web.Response | None:
        if request.headers.get("xi-api-key", "") != self.state.eleven_key:
            return web.json_response({"detail": {"status": "invalid_api_key",
                                                 "message": "Invalid API key"}}, status=401)
        status = self.state.faults.take("tts_http_status")
        if status:
            return web.json_response({"detail": {"status": "emulated_fault",
                                                 "message": "Injected failure"}},
                                     status=int(status))
        return None

    async def voices(self, request: web.Request) -> web.Response:
        if request.headers.get("xi-api-key", "") != self.state.eleven_key:
            return web.json_response({"detail": {"status": "invalid_api_key"}}, status=401)
        return web.json_response({"voices": [
            {"voice_id": "hpp4J3VqNfWAUOO0d1Us", "name": "Emulated", "category": "premade"}]})

    async def multi_stream(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.state.tts_connections.append({
            "path": request.path, "voice_id": request.match_info["voice_id"], "query": query,
            "api_key": request.headers.get("xi-api-key")})
        if (err := self._check(request)) is not None:
            return err
        try:
            codec, rate, kbps = parse_format(query.get("output_format", "mp3_22050_32"))
        except ValueError as e:
            return web.json_response({"detail": {"status": "invalid_output_format",
                                                 "message": str(e)}}, status=400)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        sock = _Socket(self.state, ws, codec, rate, kbps,
                       auto_mode=query.get("auto_mode", "false").lower() == "true")
        try:
            async for data in json_objects(ws, self.state.tts_messages):
                await sock.on_message(data)
                if sock.closing:
                    break
        except ConnectionResetError:
            pass
        finally:
            await sock.close()
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    async def rest(self, request: web.Request) -> web.StreamResponse:
        if (err := self._check(request)) is not None:
            return err
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"detail": {"message": "invalid JSON"}}, status=400)
        self.state.tts_requests.append({"path": request.path, "query": dict(request.query),
                                        "body": body})
        try:
            codec, rate, kbps = parse_format(request.query.get("output_format", "mp3_44100_128"))
        except ValueError as e:
            return web.json_response({"detail": {"status": "invalid_output_format",
                                                 "message": str(e)}}, status=400)
        text = " ".join(str(body.get("text", "")).split())
        if not text:
            return web.json_response({"detail": {"message": "text is empty"}}, status=400)
        self.state.tts_texts.append(text)
        profile = self.state.profile
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(None, synthesize, text, rate)
        chunks = await loop.run_in_executor(None, encode_chunks, pcm, codec, rate, kbps)
        resp = web.StreamResponse(headers={
            "Content-Type": "audio/mpeg" if codec == "mp3" else "audio/pcm",
            "x-trace-id": uuid.uuid4().hex})
        await resp.prepare(request)
        if profile.tts_first_byte_ms:
            await asyncio.sleep(profile.tts_first_byte_ms / 1000.0)
        try:
            for i, chunk in enumerate(chunks):
                if i and profile.tts_chunk_ms:
                    await asyncio.sleep(profile.tts_chunk_ms / 1000.0)
                await resp.write(chunk)
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp
