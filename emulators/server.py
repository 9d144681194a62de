"""One aiohttp server on 127.0.0.1 hosting the provider emulators: DeepSeek chat, Deepgram
live STT, ElevenLabs TTS, Deepgram Aura TTS and OpenAI-compatible transcription, twice — the
primary endpoints at `/`, and the backups (`ProviderEmulators.backup`, their own keys, model,
script, faults and captures) under `/backup`. `backup_env()` configures the worker's backups
(STT: a second Deepgram endpoint, LLM: an OpenAI-compatible vendor, TTS: Deepgram Aura).

    async with ProviderEmulators(script=Script([...]), profile=LatencyProfile.none(),
                                 stt_phrases=["what are your opening hours"]) as emu:
        llm = openai.LLM(model="deepseek-v4-flash", base_url=emu.deepseek_base_url,
                         api_key=emu.env()["DEEPSEEK_API_KEY"],
                         extra_body={"thinking": {"type": "disabled"}})

Control endpoints (used by `python -m emulators`, available in-process too):
    POST /__emulator/script       JSON list of turns (llm_script.Script.from_json), appended
    POST /__emulator/phrases      JSON list of phrases, or text with one phrase per line
    POST /__emulator/faults       JSON object of Faults knobs
    GET  /__emulator/requests     captured chat-completions bodies
    GET  /__emulator/transcripts  final STT transcripts sent
    GET  /__emulator/tts          texts the TTS was asked to speak
The same under /__emulator/backup/... act on the backup endpoints.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from .aura import AuraEmulator
from .deepgram import DeepgramEmulator
from .deepseek import DeepSeekEmulator
from .elevenlabs import ElevenLabsEmulator
from .llm_script import Script
from .profiles import Faults, LatencyProfile
from .state import BACKUP_LLM_MODEL, EmulatorState
from .transcription import TranscriptionEmulator

BACKUP_PREFIX = "/backup"


class ProviderEmulators:
    def __init__(self, script: Script | None = None, profile: LatencyProfile | None = None,
                 stt_phrases: list[str] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, faults: Faults | None = None) -> None:
        self.state = EmulatorState(script=script if script is not None else Script(),
                                   profile=profile or LatencyProfile.none(),
                                   faults=faults or Faults(),
                                   stt_phrases=list(stt_phrases or []))
        self.backup = EmulatorState.backup(stt_phrases)
        self.backup.profile = self.state.profile
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------ public surface
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def deepseek_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def deepgram_base_url(self) -> str:
        return f"{self.base_url}/v1/listen"

    @property
    def elevenlabs_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def env(self) -> dict[str, str]:
        return {
            "DEEPSEEK_BASE_URL": self.deepseek_base_url,
            "DEEPGRAM_BASE_URL": self.deepgram_base_url,
            "ELEVENLABS_BASE_URL": self.elevenlabs_base_url,
            "DEEPSEEK_API_KEY": self.state.deepseek_key,
            "DEEPGRAM_API_KEY": self.state.deepgram_key,
            "ELEVEN_API_KEY": self.state.eleven_key,
        }

    def backup_env(self, stt: str = "deepgram") -> dict[str, str]:
        """The worker's backup settings for these endpoints (`stt`: deepgram | openai)."""
        base, backup = f"{self.base_url}{BACKUP_PREFIX}", self.backup
        env = {
            "STT_BACKUP": stt,
            "LLM_BACKUP": "openai",
            "LLM_BACKUP_BASE_URL": f"{base}/v1",
            "LLM_BACKUP_MODEL": BACKUP_LLM_MODEL,
            "LLM_BACKUP_API_KEY": backup.deepseek_key,
            "TTS_BACKUP": "deepgram",
            "TTS_BACKUP_BASE_URL": f"{base}/v1/speak",
            "TTS_BACKUP_API_KEY": backup.deepgram_key,
        }
        if stt == "openai":
            env.update({"STT_BACKUP_BASE_URL": f"{base}/v1", "STT_BACKUP_MODEL": "whisper-1",
                        "STT_BACKUP_API_KEY": backup.deepseek_key})
        else:
            env.update({"STT_BACKUP_BASE_URL": f"{base}/v1/listen",
                        "STT_BACKUP_MODEL": "nova-2", "STT_BACKUP_API_KEY": backup.deepgram_key})
        return env

    @property
    def script(self) -> Script:
        return self.state.script

    @script.setter
    def script(self, value: Script) -> None:
        self.state.script = value

    @property
    def profile(self) -> LatencyProfile:
        return self.state.profile

    @profile.setter
    def profile(self, value: LatencyProfile) -> None:
        self.state.profile = value
        self.backup.profile = value

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def llm_requests(self) -> list[dict[str, Any]]:
        return self.state.llm_requests

    @property
    def llm_headers(self) -> list[dict[str, str]]:
        return self.state.llm_headers

    @property
    def stt_transcripts(self) -> list[str]:
        return self.state.stt_transcripts

    @property
    def stt_connections(self) -> list[dict[str, Any]]:
        return self.state.stt_connections

    @property
    def tts_texts(self) -> list[str]:
        return self.state.tts_texts

    @property
    def tts_segments(self) -> list[str]:
        return self.state.tts_segments

    @property
    def tts_connections(self) -> list[dict[str, Any]]:
        return self.state.tts_connections

    @property
    def stt_phrases(self) -> list[str]:
        return list(self.state.stt_phrases)

    def clear_captures(self) -> None:
        """Both endpoint sets' captures (EmulatorState.clear_captures)."""
        self.state.clear_captures()
        self.backup.clear_captures()

    def set_stt_phrases(self, phrases: list[str]) -> None:
        clean = [p.strip() for p in phrases if p and p.strip()]
        self.state.stt_phrases = clean
        self.backup.stt_phrases = list(clean)

    # ------------------------------------------------------------------ lifecycle
    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for state, prefix in ((self.state, ""), (self.backup, BACKUP_PREFIX)):
            for emulator in (DeepSeekEmulator, DeepgramEmulator, ElevenLabsEmulator,
                             AuraEmulator, TranscriptionEmulator):
                emulator(state).register(app, prefix)
            ctl = f"/__emulator{prefix}"
            app.router.add_post(f"{ctl}/script", self._ctl_script)
            app.router.add_post(f"{ctl}/phrases", self._ctl_phrases)
            app.router.add_post(f"{ctl}/faults", self._ctl_faults)
            app.router.add_get(f"{ctl}/faults", self._ctl_get_faults)
            app.router.add_get(f"{ctl}/requests", self._ctl_requests)
            app.router.add_get(f"{ctl}/transcripts", self._ctl_transcripts)
            app.router.add_get(f"{ctl}/tts", self._ctl_tts)
        return app

    def _target(self, request: web.Request) -> EmulatorState:
        """The state a control request acts on: the backup's under /__emulator/backup."""
        return self.backup if request.path.startswith(f"/__emulator{BACKUP_PREFIX}/") \
            else self.state

    async def start(self) -> ProviderEmulators:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the bound port when 0 asked for any
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ProviderEmulators:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Synchronous use (e.g. a test that runs the agent in a subprocess without an event loop).
    def start_in_thread(self) -> ProviderEmulators:
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:  # pragma: no cover - surfaced to the caller
                errors.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="provider-emulators", daemon=True)
        self._thread.start()
        started.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop_thread(self) -> None:
        if self._thread_loop is not None and self._thread is not None:
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            self._thread.join(5)
            self._thread = None
            self._thread_loop = None

    # ------------------------------------------------------------------ control endpoints
    async def _ctl_script(self, request: web.Request) -> web.Response:
        data = await request.json()
        if isinstance(data, dict):
            data = [data]
        turns = Script.from_json(data).remaining
        state = self._target(request)
        state.script.add(*turns)
        return web.json_response({"added": len(turns), "remaining": len(state.script.remaining)})

    async def _ctl_phrases(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            phrases = json.loads(raw)
        except json.JSONDecodeError:
            phrases = raw.splitlines()
        if not isinstance(phrases, list):
            return web.json_response({"error": "expected a list of phrases"}, status=400)
        self.set_stt_phrases([str(p) for p in phrases])
        return web.json_response({"phrases": self.state.stt_phrases})

    async def _ctl_faults(self, request: web.Request) -> web.Response:
        data = await request.json()
        faults = self._target(request).faults
        try:
            faults.update(data)
        except KeyError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response(faults.as_dict())

    async def _ctl_get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._target(request).faults.as_dict())

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self._target(request).llm_requests)

    async def _ctl_transcripts(self, request: web.Request) -> web.Response:
        return web.json_response(self._target(request).stt_transcripts)

    async def _ctl_tts(self, request: web.Request) -> web.Response:
        return web.json_response(self._target(request).tts_texts)
