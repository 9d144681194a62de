"""One call's recording: captured where the framework captures it, kept only with consent.

`AgentSession.start(record=...)` makes livekit-agents wrap the session's audio input and
output in its `RecorderIO`, which encodes both sides on one timeline (left: caller, right:
agent) into `<job session directory>/audio.ogg`. That directory is a temporary one the job
deletes when it ends, so without this module the audio is thrown away. Here:

- a decline stops the RecorderIO at once and deletes what it wrote (nothing is kept);
- when the call has ended (after the session closed the RecorderIO), a recording the caller
  consented to is checksummed, measured and moved into the recordings store, and the call
  record links to it; a failure is logged and written to the record (`recording_status`
  "failed" with the error), never lost silently.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from livekit.agents import AgentSession, UserInputTranscribedEvent, function_tool, llm
from livekit.agents.voice.agent_session import RecordingOptions
from livekit.agents.voice.recorder_io import RecorderIO

from ..data.repository import RepoSource, current_repo
from .consent import Consent, RecordingConsent, is_decline
from .store import RecordingStore, recording_name

logger = logging.getLogger("phone-agent.recording")

STOPPED = "Recording stopped: nothing of this call will be kept."
NOT_RECORDING = "This call is not being recorded."

# Audio only: no traces, logs or transcript for LiveKit Cloud (the call record keeps our own).
AUDIO_ONLY = RecordingOptions(audio=True, traces=False, logs=False, transcript=False)


@dataclass(frozen=True)
class RecordingResult:
    """What became of the call's audio (`calls.recording_*`)."""

    consent: Consent
    status: str  # "stored" | "failed" | "none"
    uri: str | None = None
    duration_s: float | None = None
    sha256: str | None = None
    error: str | None = None


def session_recorder(session: AgentSession[Any]) -> RecorderIO | None:
    """The RecorderIO that livekit-agents 1.8 wrapped the session's audio in. The framework
    keeps it on `_recorder_io` with no public accessor (its own job code reads it there);
    livekit-agents is pinned below 1.9 and tests/unit/test_recording.py checks the name."""
    recorder = getattr(session, "_recorder_io", None)
    return recorder if isinstance(recorder, RecorderIO) else None


def inspect_audio(path: Path) -> tuple[str, float, int]:
    """(SHA-256 hex, duration in seconds, size in bytes) of an encoded recording."""
    import av

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    end = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return digest.hexdigest(), round(end, 2), path.stat().st_size


class CallRecording:
    def __init__(self, consent: RecordingConsent, session: AgentSession[Any], *,
                 call_uid: str, repo: RepoSource, store: Callable[[], RecordingStore],
                 on_event: Callable[[str, str], None]) -> None:
        self.consent = consent
        self._session = session
        self._call_uid = call_uid
        self._repo = repo
        self._store = store  # opened only when there is something to keep
        self._on_event = on_event
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def record_option(self) -> RecordingOptions | bool:
        """`AgentSession.start(record=...)`: capture audio unless recording is off."""
        return AUDIO_ONLY if self.consent.mode != "off" else False

    def attach(self) -> None:
        if self.consent.mode == "consent":
            self._session.on("user_input_transcribed", self._on_transcript)

    def _on_transcript(self, ev: UserInputTranscribedEvent) -> None:
        if ev.is_final and is_decline(ev.transcript):
            self.decline("speech")

    def decline(self, by: str) -> bool:
        """The caller declined (keypad, words, or the model's stop tool): stop and discard."""
        if not self.consent.decline(by):
            return False
        logger.info("recording declined", extra={"call": self._call_uid, "by": by})
        self._on_event("recording_declined", by)
        task = asyncio.ensure_future(self._discard())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _discard(self) -> None:
        recorder = session_recorder(self._session)
        if recorder is None:
            return
        try:
            if recorder.recording:
                await recorder.aclose()
        finally:
            if recorder.output_path is not None:
                await asyncio.to_thread(recorder.output_path.unlink, True)

    def stop_tool(self) -> llm.FunctionTool:
        """`stop_recording` for the model: it can only stop a recording, never start one."""

        @function_tool
        async def stop_recording() -> str:
            """Stop recording this call. Use it when the caller says they don't want to be
            recorded."""
            if self.consent.declined_by is None and not self.decline("assistant"):
                return NOT_RECORDING
            return STOPPED

        return stop_recording

    async def finish(self, started: datetime | None = None) -> RecordingResult:
        """After the session closed: store the audio the caller allowed, and record what
        happened to it. Never raises."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Without the database a kept file would be linked to no call record, so retention
        # and erasure could never find it: it is dropped instead.
        repo = current_repo(self._repo)
        result = await self._keep_or_drop(started, linkable=repo is not None)
        if repo is None:
            logger.warning("recording outcome not in the call record: the database is "
                           "unavailable", extra={"call": self._call_uid,
                                                 "status": result.status})
            return result
        try:
            await repo.set_recording(
                self._call_uid, consent=str(result.consent), status=result.status,
                uri=result.uri, duration_s=result.duration_s, sha256=result.sha256,
                error=result.error)
        except Exception:
            logger.exception("could not write the recording to the call record",
                             extra={"call": self._call_uid})
        return result

    async def _keep_or_drop(self, started: datetime | None, *,
                            linkable: bool = True) -> RecordingResult:
        consent = self.consent.choice
        recorder = session_recorder(self._session)
        path = recorder.output_path if recorder is not None else None
        try:
            if recorder is not None and recorder.recording:  # the session normally closed it
                await recorder.aclose()
        except Exception:
            logger.exception("closing the recorder failed", extra={"call": self._call_uid})
        if path is None or not self.consent.keep or not linkable:
            if path is not None:
                await asyncio.to_thread(path.unlink, True)
            if path is not None and self.consent.keep:
                return RecordingResult(consent, "failed", error="database unavailable: not kept")
            return RecordingResult(consent, "none")
        try:
            if not path.exists():
                raise FileNotFoundError("the framework wrote no recording file")
            sha256, duration_s, size = await asyncio.to_thread(inspect_audio, path)
            uri = await self._store().save(path, recording_name(self._call_uid, started),
                                           sha256=sha256)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            logger.error("recording could not be saved", extra={"call": self._call_uid,
                                                                "error": error})
            self._on_event("recording_failed", error)
            return RecordingResult(consent, "failed", error=error)
        logger.info("recording stored", extra={"call": self._call_uid, "uri": uri,
                                               "duration_s": duration_s, "bytes": size})
        return RecordingResult(consent, "stored", uri, duration_s, sha256)
