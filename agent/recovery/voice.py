"""The fallback lines as audio that needs no working TTS.

- At prewarm, each line of `lines.PRERENDERED` missing from the cache is rendered through the
  primary voice (ElevenLabs, REST) in a background thread and saved under
  `FAILOVER_STATE_DIR/voice/<voice key>/`, so later calls (each in its own process) load it
  from disk; the key covers endpoint, voice, model and format, the file name the wording.
- A line not rendered yet (first call, or the TTS down at prewarm) is the bundled espeak-ng
  recording (`bundled/`, made by `python -m devstack.bundle_voice`).

`RecoveryTrack` plays a clip on a track of its own, next to the agent's voice, so a hold line
can be heard while the session's speech queue waits on a stalled reply; the SIP bridge mixes
it into the call like the agent's voice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import threading
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from livekit import rtc

from ..config import Settings
from ..providers import TTS_ENCODING, build_tts
from ..providers.plugins import host_of
from .lines import PRERENDERED

logger = logging.getLogger("phone-agent.recovery.voice")

BUNDLED = Path(__file__).parent / "bundled"
RATE = 24000  # the primary voice's rate (pcm_24000) and the recovery track's
FRAME_MS = 20
RENDER_TIMEOUT_S = 20.0


def voice_dir(settings: Settings) -> Path:
    ident = "|".join((host_of(settings.elevenlabs_base_url, "api.elevenlabs.io"),
                      settings.elevenlabs_voice_id, settings.elevenlabs_model, TTS_ENCODING))
    key = hashlib.sha1(ident.encode()).hexdigest()[:12]
    return Path(settings.failover_state_dir) / "voice" / key


def clip_file(directory: Path, name: str, text: str) -> Path:
    return directory / f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:8]}.wav"


def _read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate()


def _write_wav(path: Path, pcm: bytes, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    os.replace(tmp, path)


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    if src == dst or not pcm:
        return pcm
    resampler = rtc.AudioResampler(src, dst)
    frame = rtc.AudioFrame(pcm, src, 1, len(pcm) // 2)
    out = [f.data.tobytes() for f in [*resampler.push(frame), *resampler.flush()]]
    return b"".join(out)


@dataclass(frozen=True)
class Clip:
    name: str
    text: str
    pcm: bytes  # s16le mono at RATE
    source: str  # "tts" (the primary voice, cached) or "bundled"

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE

    async def frames(self) -> AsyncIterator[rtc.AudioFrame]:
        step = RATE * FRAME_MS // 1000
        for i in range(0, len(self.pcm) // 2, step):
            chunk = self.pcm[i * 2:(i + step) * 2].ljust(step * 2, b"\0")
            yield rtc.AudioFrame(chunk, RATE, 1, step)


class PrerenderedVoice:
    """Every fallback line as a clip: the cached render if there is one, else bundled."""

    def __init__(self, clips: dict[str, Clip]) -> None:
        self.clips = clips

    def __getitem__(self, name: str) -> Clip:
        return self.clips[name]

    @classmethod
    def load(cls, settings: Settings) -> PrerenderedVoice:
        directory = voice_dir(settings)
        clips = {}
        for name, text in PRERENDERED.items():
            cached = clip_file(directory, name, text)
            path, source = (cached, "tts") if cached.exists() else (BUNDLED / f"{name}.wav",
                                                                    "bundled")
            pcm, rate = _read_wav(path)
            clips[name] = Clip(name, text, resample(pcm, rate, RATE), source)
        return cls(clips)


async def render_missing(settings: Settings) -> list[str]:
    """Render the lines not cached yet through the primary voice; returns their names."""
    directory = voice_dir(settings)
    missing = {n: t for n, t in PRERENDERED.items() if not clip_file(directory, n, t).exists()}
    if not missing:
        return []
    async with aiohttp.ClientSession() as http:
        tts = build_tts(settings, http_session=http)
        try:
            for name, text in missing.items():
                pcm = bytearray()
                async for audio in tts.synthesize(text):
                    pcm.extend(resample(audio.frame.data.tobytes(), audio.frame.sample_rate,
                                        RATE))
                if not pcm:
                    raise RuntimeError(f"no audio for {name!r}")
                _write_wav(clip_file(directory, name, text), bytes(pcm), RATE)
        finally:
            await tts.aclose()
    return list(missing)


def render_in_background(settings: Settings) -> threading.Thread:
    """Prewarm: render what is missing without holding up the process (daemon thread)."""
    def run() -> None:
        try:
            done = asyncio.run(asyncio.wait_for(render_missing(settings), RENDER_TIMEOUT_S))
            if done:
                logger.info("fallback lines rendered in the primary voice: %s", ", ".join(done))
        except Exception as e:  # the bundled recordings stay in use
            logger.warning("could not render the fallback lines (bundled ones are used): %s",
                           e)

    thread = threading.Thread(target=run, name="prerender-voice", daemon=True)
    thread.start()
    return thread


class RecoveryTrack:
    """A track of the agent's own for fallback lines, published on first use."""

    NAME = "recovery_voice"

    def __init__(self, room: rtc.Room) -> None:
        self._room = room
        self._source = rtc.AudioSource(RATE, 1, queue_size_ms=200)
        self._published: asyncio.Task[rtc.LocalTrackPublication] | None = None
        self._playing: asyncio.Task[None] | None = None

    @property
    def playing(self) -> bool:
        return self._playing is not None and not self._playing.done()

    def play(self, clip: Clip) -> asyncio.Task[None]:
        self.stop()
        self._playing = asyncio.ensure_future(self._play(clip))
        return self._playing

    def stop(self) -> None:
        if self.playing:
            assert self._playing is not None
            self._playing.cancel()
            self._source.clear_queue()

    async def _play(self, clip: Clip) -> None:
        if self._published is None:
            track = rtc.LocalAudioTrack.create_audio_track(self.NAME, self._source)
            self._published = asyncio.ensure_future(
                self._room.local_participant.publish_track(
                    track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)))
        await asyncio.shield(self._published)
        async for frame in clip.frames():
            await self._source.capture_frame(frame)
        await self._source.wait_for_playout()

    async def aclose(self) -> None:
        self.stop()
        await self._source.aclose()
