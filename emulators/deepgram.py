"""Deepgram live STT emulator — provider-protocols.md §2.

`GET /v1/listen` (websocket): `Authorization: Token <key>`, linear16 mono audio at the query's
sample_rate. Speech is segmented by energy on AUDIO time (bytes received, so faster-than-real-time
input works); transcripts come from real recognition constrained to the current phrase list
(recognizer.py), run in a thread executor.

Timeline of one utterance (audio time):
    speech onset (≥20 ms of energy)     -> SpeechStarted (vad_events=true)
    every 0.4 s of speech               -> Results is_final=false (interim_results=true)
    last voiced 10 ms window ends at E  -> (after the 120 ms hangover, recognition starts)
    E + max(stt_final_delay_ms, 120 ms, endpointing)
                                        -> Results is_final=true, speech_final=true
                                           (speech_final=false when endpointing=false)
    E + utterance_end_ms                -> UtteranceEnd (when utterance_end_ms is set)
Unrecognized audio (noise, out-of-list speech) ends with an EMPTY final transcript, which the
plugin turns into END_OF_SPEECH only (no FINAL_TRANSCRIPT).

`POST /v1/listen` (REST recognize, WAV body) is served too. Faults: `stt_reject_status`
(handshake refused), `stt_drop_after_s` (closed mid-stream), `stt_drop_in_speech_s` (closed
mid-utterance), `stt_silent` (connected, never answering).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import uuid
import wave
from datetime import UTC, datetime
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from .recognizer import get_recognizer
from .state import EmulatorState

HANGOVER_S = 0.12  # silence needed to notice the end of speech (≤120 ms, see the brief)
ONSET_WINDOWS = 2  # voiced 10 ms windows needed to start speech
PREROLL_S = 0.15
INTERIM_STEP_S = 0.4
ENERGY_RMS = 300.0  # s16 RMS threshold for a voiced 10 ms window
IDLE_CLOSE_S = 10.0
MODEL_INFO = {"name": "2-general-nova", "version": "2024-01-18.26916", "arch": "nova-3"}


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.lower() in ("true", "1", "yes")


class _Session:
    def __init__(self, state: EmulatorState, ws: web.WebSocketResponse,
                 query: dict[str, str]) -> None:
        self.state = state
        self.ws = ws
        self.request_id = str(uuid.uuid4())
        self.sample_rate = int(query.get("sample_rate", "16000"))
        self.interim = _bool(query.get("interim_results"), False)
        self.vad_events = _bool(query.get("vad_events"), False)
        self.punctuate = _bool(query.get("punctuate"), False) or \
            _bool(query.get("smart_format"), False)
        ep = query.get("endpointing", "10")
        self.endpointing_ms: float | None = None if ep.lower() == "false" else float(ep)
        ue = query.get("utterance_end_ms")
        self.utterance_end_ms: float | None = float(ue) if ue else None
        self.window_bytes = max(2, self.sample_rate // 100 * 2)
        self.samples = 0  # audio received, in samples
        self.pending = bytearray()
        self.history = bytearray()  # recent audio for pre-roll
        self.closed = False
        self._reset_utterance()
        self.last_word_end: float | None = None  # for UtteranceEnd
        self.dropped = False
        self.recv_wall = 0.0  # time.time() when the audio message being processed arrived

    # ---------------------------------------------------------------- utterance state
    def _reset_utterance(self) -> None:
        self.in_speech = False
        self.voiced_run = 0
        self.utt = bytearray()
        self.utt_start = 0.0
        self.last_voice_end = 0.0
        self.last_voice_wall = 0.0  # time.time() the last voiced window arrived
        self.next_interim = 0.0
        self.recognition: asyncio.Future[Any] | None = None
        self.recognition_end = 0.0

    @property
    def now(self) -> float:
        return self.samples / self.sample_rate

    @property
    def final_delay(self) -> float:
        delay = max(self.state.profile.stt_final_delay_ms / 1000.0, HANGOVER_S)
        if self.endpointing_ms is not None:
            delay = max(delay, self.endpointing_ms / 1000.0)
        return delay

    async def send(self, msg: dict[str, Any]) -> None:
        if self.closed or self.ws.closed:
            return
        self.state.stt_events.append(msg)
        await self.ws.send_str(json.dumps(msg))

    def _recognize_async(self, audio: bytes, partial: bool = False) -> asyncio.Future[Any]:
        phrases, rate = list(self.state.stt_phrases), self.sample_rate

        def work() -> Any:  # builds the recognizer too (espeak + pocketsphinx) off the loop
            rec = get_recognizer(phrases)
            return rec.partial(audio, rate) if partial else rec.recognize(audio, rate)

        return asyncio.get_running_loop().run_in_executor(None, work)

    # ---------------------------------------------------------------- audio
    async def on_audio(self, data: bytes) -> None:
        self.recv_wall = time.time()
        self.pending.extend(data)
        wb = self.window_bytes
        while len(self.pending) >= wb and not self.closed:
            window = bytes(self.pending[:wb])
            del self.pending[:wb]
            await self._on_window(window)

    async def _on_window(self, window: bytes) -> None:
        start = self.now
        self.samples += len(window) // 2
        end = self.now
        x = np.frombuffer(window, np.int16).astype(np.float32)
        voiced = float(np.sqrt(np.mean(x * x))) > ENERGY_RMS if len(x) else False

        drop_after = self.state.faults.peek("stt_drop_after_s")
        if drop_after is not None and not self.dropped and end >= float(drop_after):
            self.state.faults.take("stt_drop_after_s")
            self.dropped = True
            self.closed = True
            await self.ws.close(code=1011, message=b"emulated fault: connection dropped")
            return

        if not self.in_speech:
            self.history.extend(window)
            max_hist = int(PREROLL_S * self.sample_rate) * 2
            if len(self.history) > max_hist:
                del self.history[: len(self.history) - max_hist]
            self.voiced_run = self.voiced_run + 1 if voiced else 0
            if self.voiced_run >= ONSET_WINDOWS:
                self.in_speech = True
                self.utt = bytearray(self.history)
                self.history.clear()
                self.utt_start = start - (ONSET_WINDOWS - 1) * 0.01
                self.last_voice_end = end
                self.last_voice_wall = self.recv_wall
                self.next_interim = self.utt_start + INTERIM_STEP_S
                self.last_word_end = None
                if self.vad_events:
                    await self.send({"type": "SpeechStarted", "channel": [0, 1],
                                     "timestamp": round(self.utt_start, 3)})
            else:
                await self._maybe_utterance_end()
            return

        self.utt.extend(window)
        cut = self.state.faults.peek("stt_drop_in_speech_s")
        if cut is not None and end - self.utt_start >= float(cut):
            self.state.faults.take("stt_drop_in_speech_s")
            self.closed = True
            await self.ws.close(code=1011, message=b"emulated fault: dropped mid-utterance")
            return
        if voiced:
            self.last_voice_end = end
            self.last_voice_wall = self.recv_wall
            if self.recognition is not None:  # speech resumed before the final: keep going
                self.recognition.cancel()
                self.recognition = None
        silence = end - self.last_voice_end
        if self.recognition is None and silence >= HANGOVER_S:
            tail = int((self.last_voice_end - self.utt_start + PREROLL_S + 0.05)
                       * self.sample_rate) * 2
            self.recognition = self._recognize_async(bytes(self.utt[:tail]))
            self.recognition_end = self.last_voice_end
        if self.recognition is not None and silence >= self.final_delay:
            await self._send_final(speech_final=self.endpointing_ms is not None)
            return
        if self.interim and end >= self.next_interim and silence < HANGOVER_S:
            self.next_interim = end + INTERIM_STEP_S
            words = await self._recognize_async(bytes(self.utt), partial=True)
            if words and not self.closed:
                await self.send(self._results(words, self.utt_start, end, is_final=False,
                                              speech_final=False))

    async def _maybe_utterance_end(self) -> None:
        if (self.utterance_end_ms is not None and self.last_word_end is not None
                and self.now - self.last_word_end >= self.utterance_end_ms / 1000.0):
            await self.send({"type": "UtteranceEnd", "channel": [0, 1],
                             "last_word_end": round(self.last_word_end, 3)})
            self.last_word_end = None

    async def _send_final(self, *, speech_final: bool, from_finalize: bool = False) -> None:
        if self.recognition is None:
            tail = bytes(self.utt)
            end = self.now
            self.recognition = self._recognize_async(tail)
        else:
            end = self.recognition_end
        result = await self.recognition
        start = self.utt_start
        text = result.text or ""
        if text:
            self.state.stt_transcripts.append(text)
            self.last_word_end = end
        msg = self._results(text, start, end, is_final=True, speech_final=speech_final)
        msg["from_finalize"] = from_finalize
        self.state.stt_timings.append({"speech_start": start, "speech_end": end,
                                       "sent_at": self.now, "transcript": text,
                                       "speech_final": speech_final,
                                       # wall clock (time.time()): arrival of the last voiced
                                       # window, and the moment the final goes out
                                       "speech_end_arrived_wall": self.last_voice_wall,
                                       "sent_wall": time.time()})
        self._reset_utterance()
        await self.send(msg)

    def _results(self, text: str, start: float, end: float, *, is_final: bool,
                 speech_final: bool) -> dict[str, Any]:
        tokens = text.split()
        words = []
        if tokens:
            step = max(end - start, 0.01) / len(tokens)
            for i, tok in enumerate(tokens):
                word = {"word": tok.strip(".,?!;:\"").lower(), "start": round(start + i * step, 3),
                        "end": round(start + (i + 1) * step, 3), "confidence": 0.99}
                if self.punctuate:
                    word["punctuated_word"] = tok
                if is_final:
                    word["speaker"] = 0
                words.append(word)
        return {
            "type": "Results", "channel_index": [0, 1], "duration": round(end - start, 3),
            "start": round(start, 3), "is_final": is_final, "speech_final": speech_final,
            "from_finalize": False,
            "channel": {"alternatives": [{"transcript": text,
                                          "confidence": 0.99 if text else 0.0,
                                          "words": words}]},
            "metadata": {"request_id": self.request_id, "model_info": MODEL_INFO,
                         "model_uuid": "1dbdfb4d-85b2-4659-9f8b-7a3a0c8c1f2e"},
        }

    # ---------------------------------------------------------------- control messages
    async def flush(self, *, from_finalize: bool) -> None:
        if self.pending:
            self.pending.extend(b"\x00" * (self.window_bytes - len(self.pending)))
            await self.on_audio(b"")
        if self.in_speech and not self.closed:
            await self._send_final(speech_final=False, from_finalize=from_finalize)

    async def close_stream(self) -> None:
        await self.flush(from_finalize=False)
        await self.send({"type": "Metadata", "transaction_key": "deprecated",
                         "request_id": self.request_id, "sha256": "0" * 64,
                         "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                         "duration": round(self.now, 3), "channels": 1,
                         "models": ["1dbdfb4d-85b2-4659-9f8b-7a3a0c8c1f2e"],
                         "model_info": {}})
        self.closed = True
        await self.ws.close(code=1000)


class DeepgramEmulator:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def register(self, app: web.Application, prefix: str = "") -> None:
        app.router.add_get(f"{prefix}/v1/listen", self.listen)
        app.router.add_post(f"{prefix}/v1/listen", self.recognize_rest)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization", "") != f"Token {self.state.deepgram_key}":
            return web.json_response({"err_code": "INVALID_AUTH",
                                      "err_msg": "Invalid credentials.",
                                      "request_id": str(uuid.uuid4())}, status=401)
        return None

    async def listen(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.state.stt_connections.append({
            "path": request.path, "query": query,
            "authorization": request.headers.get("Authorization"),
            "query_string": request.query_string})
        if (err := self._auth_error(request)) is not None:
            return err
        status = self.state.faults.take("stt_reject_status")
        if status:
            return web.json_response({"err_code": "EMULATED_FAULT",
                                      "err_msg": "Injected handshake failure."},
                                     status=int(status))
        if query.get("encoding", "linear16") != "linear16" or query.get("channels", "1") != "1":
            return web.json_response({"err_code": "Bad Request",
                                      "err_msg": "emulator supports linear16 mono only"},
                                     status=400)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        session = _Session(self.state, ws, query)
        ws.headers["dg-request-id"] = session.request_id
        await ws.prepare(request)
        if self.state.faults.take("stt_silent"):
            return await self._silent(ws)
        try:
            while not session.closed:
                try:
                    msg = await ws.receive(timeout=IDLE_CLOSE_S)
                except TimeoutError:
                    session.closed = True
                    await ws.close(code=1011, message=b"NET-0001")
                    break
                if msg.type == WSMsgType.BINARY:
                    await session.on_audio(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except json.JSONDecodeError:
                        continue
                    self.state.stt_messages.append(data)
                    kind = data.get("type") if isinstance(data, dict) else None
                    if kind == "Finalize":
                        await session.flush(from_finalize=True)
                    elif kind == "CloseStream":
                        await session.close_stream()
                else:  # CLOSE / CLOSING / CLOSED / ERROR
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            session.closed = True
            if session.recognition is not None:
                session.recognition.cancel()
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    @staticmethod
    async def _silent(ws: web.WebSocketResponse) -> web.WebSocketResponse:
        """Connected, reading the audio, never answering (the `stt_silent` fault)."""
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            async for _ in ws:
                pass
        return ws

    async def recognize_rest(self, request: web.Request) -> web.Response:
        if (err := self._auth_error(request)) is not None:
            return err
        body = await request.read()
        try:
            with wave.open(io.BytesIO(body)) as w:
                rate = w.getframerate()
                pcm = w.readframes(w.getnframes())
        except (wave.Error, EOFError):
            return web.json_response({"err_code": "Bad Request",
                                      "err_msg": "could not decode WAV"}, status=400)
        phrases = list(self.state.stt_phrases)
        t0 = time.monotonic()
        result = await asyncio.get_running_loop().run_in_executor(
            None, lambda: get_recognizer(phrases).recognize(pcm, rate))
        text = result.text or ""
        if text:
            self.state.stt_transcripts.append(text)
        dur = len(pcm) / 2 / rate
        tokens = text.split()
        words = [{"word": t.strip(".,?!").lower(), "punctuated_word": t,
                  "start": round(i * dur / len(tokens), 3),
                  "end": round((i + 1) * dur / len(tokens), 3), "confidence": 0.99}
                 for i, t in enumerate(tokens)]
        return web.json_response({
            "metadata": {"request_id": str(uuid.uuid4()), "duration": dur,
                         "processing_ms": int((time.monotonic() - t0) * 1000)},
            "results": {"channels": [{"detected_language": "en", "alternatives": [
                {"transcript": text, "confidence": 0.99 if text else 0.0, "words": words}]}]},
        })
