"""Two things livekit's `stt.FallbackAdapter` cannot do for a phone call, added around each
STT it manages (only when a backup is configured):

- **a silent provider is a failed provider.** A socket that stays connected but never sends a
  transcript raises nothing, so the adapter would keep it forever. `GuardedSTT.trip()` fails
  the stream being served (the call trips it when the session's `user_transcription_timeout`
  says the VAD heard speech that no transcript followed); the adapter then switches to the
  next STT and checks the silent one in the background.
- **the utterance in flight is not lost.** When a provider fails mid-utterance, the next one
  only hears what comes after the switch. `AudioTape` keeps the caller's audio since the last
  final transcript (at most `AudioTape.MAX_S`), and every new stream first replays it, so the
  backup transcribes the whole sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from collections import deque
from typing import Any

from livekit import rtc
from livekit.agents import APIConnectionError, APIConnectOptions, stt
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer


class AudioTape:
    """The caller's audio not yet covered by a final transcript, shared by one call's STTs."""

    MAX_S = 10.0

    def __init__(self) -> None:
        self._frames: deque[rtc.AudioFrame] = deque()
        self._seconds = 0.0

    def record(self, frame: rtc.AudioFrame) -> None:
        # The adapter pushes the same frame object to the serving stream and to a background
        # check's stream: keep it once.
        if self._frames and self._frames[-1] is frame:
            return
        self._frames.append(frame)
        self._seconds += frame.duration
        while self._seconds > self.MAX_S and self._frames:
            self._seconds -= self._frames.popleft().duration

    def clear(self) -> None:
        """A final transcript reached the session: what came before it is handled."""
        self._frames.clear()
        self._seconds = 0.0

    def snapshot(self) -> list[rtc.AudioFrame]:
        return list(self._frames)

    @property
    def seconds(self) -> float:
        return self._seconds


class GuardedSTT(stt.STT):
    """A streaming STT whose streams replay the tape first and can be failed on purpose."""

    def __init__(self, inner: stt.STT, tape: AudioTape) -> None:
        if not inner.capabilities.streaming:
            raise ValueError("wrap a non-streaming STT in stt.StreamAdapter first")
        super().__init__(capabilities=inner.capabilities)
        self.inner = inner
        self.tape = tape
        self._label = inner.label
        self._streams: weakref.WeakSet[GuardedStream] = weakref.WeakSet()
        inner.on("metrics_collected", self._forward_metrics)

    def _forward_metrics(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def provider(self) -> str:
        return self.inner.provider

    def trip(self, reason: str) -> int:
        """Fail every open stream of this STT; returns how many were failed."""
        streams = [s for s in self._streams if not s.failed]
        for s in streams:
            s.fail(reason)
        return len(streams)

    async def _recognize_impl(self, buffer: AudioBuffer, *,
                              language: NotGivenOr[str] = NOT_GIVEN,
                              conn_options: APIConnectOptions) -> stt.SpeechEvent:
        return await self.inner.recognize(buffer, language=language, conn_options=conn_options)

    def stream(self, *, language: NotGivenOr[str] = NOT_GIVEN,
               conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> GuardedStream:
        s = GuardedStream(self, language=language, conn_options=conn_options)
        self._streams.add(s)
        return s

    def prewarm(self) -> None:
        self.inner.prewarm()

    async def aclose(self) -> None:
        self.inner.off("metrics_collected", self._forward_metrics)
        await self.inner.aclose()


class GuardedStream(stt.RecognizeStream):
    def __init__(self, owner: GuardedSTT, *, language: NotGivenOr[str],
                 conn_options: APIConnectOptions) -> None:
        super().__init__(stt=owner, conn_options=conn_options)
        self._owner = owner
        self._language = language
        self._failure = asyncio.Event()
        self._reason = ""

    @property
    def failed(self) -> bool:
        return self._failure.is_set()

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        # The adapter keeps forwarding frames to a stream that already failed until it has
        # switched; 1.8.9 logs a traceback per refused frame, so drop them quietly.
        if self.failed or self._task.done():
            return
        super().push_frame(frame)

    def fail(self, reason: str) -> None:
        self._reason = reason
        self._failure.set()

    async def _run(self) -> None:
        owner = self._owner
        # Retries belong to this stream (and so replay the tape), not to the inner plugin.
        inner = owner.inner.stream(language=self._language,
                                   conn_options=dataclasses.replace(self._conn_options,
                                                                    max_retry=0))
        replay = owner.tape.snapshot()
        inner.start_time_offset = max(0.0, self.start_time_offset - owner.tape.seconds)

        async def forward() -> None:
            for frame in replay:
                inner.push_frame(frame)
            async for data in self._input_ch:
                if isinstance(data, rtc.AudioFrame):
                    owner.tape.record(data)
                    inner.push_frame(data)
                else:
                    inner.flush()
            with contextlib.suppress(RuntimeError):
                inner.end_input()

        forwarder = asyncio.create_task(forward())
        tripped: asyncio.Task[Any] = asyncio.create_task(self._failure.wait())
        try:
            async with inner:
                events = aiter(inner)
                while True:
                    nxt: asyncio.Future[Any] = asyncio.ensure_future(anext(events))
                    await asyncio.wait({nxt, tripped}, return_when=asyncio.FIRST_COMPLETED)
                    if tripped.done():
                        nxt.cancel()
                        raise APIConnectionError(f"{owner.label}: {self._reason}",
                                                 retryable=False)
                    try:
                        self._event_ch.send_nowait(nxt.result())
                    except StopAsyncIteration:
                        return
        finally:
            for task in (forwarder, tripped):
                task.cancel()
            await asyncio.gather(forwarder, tripped, return_exceptions=True)
