"""A scripted caller for the benchmarks, the demo and the tests: a real `livekit.rtc`
participant that joins a room like a browser user, dispatches the agent by name, speaks
synthetic speech in real time and records what the agent says back, with a timeline of when
the agent's audio started and stopped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
from livekit import api, rtc

RATE = 48000
FRAME_MS = 10
SAMPLES_PER_FRAME = RATE * FRAME_MS // 1000
# An audio frame is "voiced" above this RMS (int16 units); the agent's silence frames are 0.
VOICED_RMS = 200.0


def caller_token(key: str, secret: str, room: str, identity: str, agent_name: str,
                 metadata: str = "") -> str:
    return (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_room_config(api.RoomConfiguration(
            agents=[api.RoomAgentDispatch(agent_name=agent_name, metadata=metadata)]))
        .to_jwt()
    )


@dataclass
class Burst:
    """A stretch of agent audio: start/end on the caller's monotonic clock, PCM at 48 kHz."""

    start: float
    end: float
    pcm: bytearray = field(default_factory=bytearray)

    @property
    def duration(self) -> float:
        return self.end - self.start


class TestCaller:
    """Join with `async with TestCaller(...) as caller:`; then `say()`, `wait_for_speech()`."""

    __test__ = False  # not a pytest class

    def __init__(self, url: str, token: str, *, silence_gap: float = 0.6) -> None:
        self.url = url
        self.token = token
        self.room = rtc.Room()
        self.silence_gap = silence_gap  # quiet this long ends a burst of agent speech
        self.bursts: list[Burst] = []
        self.agent_joined = asyncio.Event()
        self.agent_identity: str | None = None
        self._source = rtc.AudioSource(RATE, 1, queue_size_ms=200)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_voiced = 0.0
        self._last_voiced_main = True  # which track the last voiced frame came from
        self._speech_changed = asyncio.Event()
        self.speak_end: float | None = None  # when the last say() finished sending speech
        self._outbox: list[tuple[bytes, asyncio.Future[float]]] = []
        self._audio_tracks = 0

    async def __aenter__(self) -> TestCaller:
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_connected", self._on_participant)
        await self.room.connect(self.url, self.token)
        for p in self.room.remote_participants.values():
            self._on_participant(p)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, opts)
        self._tasks.append(asyncio.create_task(self._pump_silence()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.room.disconnect()

    def _on_participant(self, p: rtc.RemoteParticipant) -> None:
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            self.agent_identity = p.identity
            self.agent_joined.set()

    def _on_track(self, track: rtc.Track, pub: rtc.RemoteTrackPublication,
                  p: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._audio_tracks += 1  # the first is the agent's voice; later: e.g. hold lines
            self._tasks.append(asyncio.create_task(self._record(track,
                                                                main=self._audio_tracks == 1)))

    async def _record(self, track: rtc.Track, *, main: bool = True) -> None:
        """Timeline and audio of one agent track. A second track (the recovery track's hold
        lines) adds its voiced frames only, so its silence never dilutes the recording."""
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        async for ev in stream:
            now = time.monotonic()
            data = np.frombuffer(ev.frame.data, dtype=np.int16)
            rms = float(np.sqrt(np.mean(data.astype(np.float64) ** 2))) if data.size else 0.0
            if not main and rms < VOICED_RMS:
                continue
            if rms >= VOICED_RMS:
                if not self.bursts or now - self._last_voiced > self.silence_gap:
                    # A burst starts when its first voiced frame reaches the caller: the caller
                    # cannot hear it earlier (back-dating by the frame's duration would make
                    # every measured gap 10 ms shorter than what a caller experiences).
                    self.bursts.append(Burst(start=now, end=now))
                    self._speech_changed.set()
                self._last_voiced = now
                self._last_voiced_main = main
            elif self._last_voiced_main != main:
                # The other track is the one speaking: this track's silence would be spliced
                # into the middle of its words.
                continue
            if self.bursts and now - self._last_voiced <= self.silence_gap:
                burst = self.bursts[-1]
                burst.end = max(burst.end, self._last_voiced)
                burst.pcm.extend(ev.frame.data.tobytes())

    # --- speaking -------------------------------------------------------------------------
    # One task feeds the audio source: queued speech when there is some, silence otherwise
    # (a real microphone never stops sending, and the SIP/VAD path expects a steady stream).

    async def _pump_silence(self) -> None:
        silence = bytes(SAMPLES_PER_FRAME * 2)
        step = SAMPLES_PER_FRAME * 2
        while True:
            if self._outbox:
                pcm, done = self._outbox[0]
                chunk, rest = pcm[:step].ljust(step, b"\x00"), pcm[step:]
                await self._source.capture_frame(
                    rtc.AudioFrame(chunk, RATE, 1, SAMPLES_PER_FRAME))
                if rest:
                    self._outbox[0] = (rest, done)
                else:
                    self._outbox.pop(0)
                    await self._source.wait_for_playout()
                    done.set_result(time.monotonic())
            else:
                await self._source.capture_frame(
                    rtc.AudioFrame(silence, RATE, 1, SAMPLES_PER_FRAME))

    async def say(self, pcm16k: bytes, *, rate: int = 16000) -> float:
        """Send speech in real time; return the monotonic time its last sample was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._outbox.append((_resample(pcm16k, rate, RATE), done))
        self.speak_end = await done
        return self.speak_end

    # --- waiting --------------------------------------------------------------------------

    async def wait_for_speech(self, after: float, within: float = 20.0) -> Burst:
        """The first agent burst that starts after `after`."""
        deadline = time.monotonic() + within
        while True:
            for b in self.bursts:
                if b.start >= after:
                    return b
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no agent speech within {within:.0f} s")
            self._speech_changed.clear()
            try:
                await asyncio.wait_for(self._speech_changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_until_quiet(self, burst: Burst, within: float = 30.0) -> Burst:
        """Wait until `burst` has ended (no agent audio for `silence_gap`)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if time.monotonic() - self._last_voiced > self.silence_gap + 0.1:
                return burst
            await asyncio.sleep(0.1)
        raise TimeoutError("agent kept talking")

    def speech_after(self, t: float) -> list[Burst]:
        return [b for b in self.bursts if b.start >= t]


def _resample(pcm: bytes, src: int, dst: int) -> bytes:
    if src == dst:
        return pcm
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    n = int(len(x) * dst / src)
    y = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x)
    return y.astype(np.int16).tobytes()


def downsample_48k_to_16k(pcm48k: bytes | bytearray) -> bytes:
    return _resample(bytes(pcm48k), RATE, 16000)
