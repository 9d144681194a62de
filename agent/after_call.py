"""After the caller has hung up: store the recording, analyse the call, announce the end.

Runs in the job process once the session has closed (the worker's `on_session_end` hook,
agent/worker.py → agent/call.py), so the caller never waits for any of it. The framework
allows that hook `session_end_timeout` (300 s by default) even while the worker shuts down,
unlike shutdown callbacks, which get the 10 s process shutdown timeout; the steps below are
bounded well inside it (recording 120 s, analysis 2 × 75 s).

Order: the call record's pending writes land first; then the recording (consented audio →
store, `recording.ready`); then the summary and outcome; then `call.ended` carrying both.
Each step catches its own failures: a failed upload or an unreachable model leaves the call
record intact and says so in it ("failed", "unavailable").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from livekit.agents import llm

from .analysis.outcome import actions_taken, digest, stored_outcome
from .analysis.summarize import analyse
from .call_state import CallState
from .config import Settings
from .data.repository import Repository, RepoSource, current_repo
from .observability.calls import CallRecorder
from .recording.capture import CallRecording, RecordingResult
from .tools.audit import audit_call_id
from .webhooks.events import CALL_ENDED, RECORDING_READY, Webhooks, call_fields

logger = logging.getLogger("phone-agent.after-call")

RECORDING_TIMEOUT_S = 120.0
FLUSH_TIMEOUT_S = 30.0


@dataclass
class AfterCall:
    state: CallState
    settings: Settings
    source: RepoSource  # the database may have come back during the call (agent/call.py)
    record: CallRecorder
    recording: CallRecording
    webhooks: Webhooks
    summary_llm: Callable[[], llm.LLM]

    @property
    def call_uid(self) -> str:
        return self.state.call_uid

    @property
    def repo(self) -> Repository:
        repo = current_repo(self.source)
        if repo is None:
            raise RuntimeError("the database is unavailable")
        return repo

    async def run(self) -> None:
        try:
            await asyncio.wait_for(self.record.flush(), FLUSH_TIMEOUT_S)
        except Exception:
            logger.exception("call record writes did not finish", extra={"call": self.call_uid})
        recording = await self._recording()
        if current_repo(self.source) is None:  # the record went to the log (RecordSink)
            logger.warning("no summary or call.ended webhook: the database is unavailable",
                           extra={"call": self.call_uid})
            return
        outcome = await self._analysis()
        await self._ended(recording, outcome)
        await self.webhooks.flush()

    async def _recording(self) -> RecordingResult | None:
        started = datetime.fromtimestamp(self.state.started_at, UTC)
        try:
            result = await asyncio.wait_for(self.recording.finish(started), RECORDING_TIMEOUT_S)
        except Exception as exc:  # a hung upload: finish() handles every other failure
            logger.error("recording hand-over timed out", extra={"call": self.call_uid})
            if current_repo(self.source) is None:
                return None
            await self._guard(self.repo.set_recording(
                self.call_uid, consent=str(self.recording.consent.choice), status="failed",
                error=f"{type(exc).__name__}: gave up after {RECORDING_TIMEOUT_S:.0f} s"))
            return None
        if result.status == "stored":
            await self._guard(self.webhooks.emit(RECORDING_READY, {
                "uri": result.uri, "duration_s": result.duration_s, "sha256": result.sha256,
                "content_type": "audio/ogg", "channels": {"left": "caller", "right": "agent"},
                "consent": str(result.consent)}))
        return result

    async def _analysis(self) -> dict[str, Any]:
        """Summary and outcome, stored with the call; returns them for `call.ended`."""
        if not self.settings.call_summary:
            await self._guard(self.repo.set_outcome(self.call_uid, status="off", summary=None,
                                                    outcome=None))
            return {"status": "off", "summary": None, "outcome": None}
        try:
            lines = await self.repo.call_events(self.call_uid, kind="transcript")
            events = [e for e in await self.repo.call_events(self.call_uid)
                      if e["kind"] != "transcript"]
            audit = await self.repo.audit_entries(call_id=audit_call_id(self.state))
            record = await self.repo.call(self.call_uid)
        except Exception as exc:
            logger.exception("could not read the call for its summary",
                             extra={"call": self.call_uid})
            return await self._unavailable(f"reading the call failed: {type(exc).__name__}")
        if not lines:
            return await self._unavailable("no conversation to summarise")
        model = self.summary_llm()
        try:
            analysis = await analyse(model, digest(record, lines, audit, events),
                                     call_uid=self.call_uid)
        finally:
            await model.aclose()
        if analysis.answer is None:
            return await self._unavailable(analysis.error or "no valid answer")
        outcome = stored_outcome(analysis.answer, actions_taken(audit, events))
        summary = str(analysis.answer["summary"])
        await self._guard(self.repo.set_outcome(self.call_uid, status="ok", summary=summary,
                                                outcome=outcome))
        logger.info("call summarised", extra={"call": self.call_uid,
                                              "attempts": analysis.attempts})
        return {"status": "ok", "summary": summary, "outcome": outcome}

    async def _unavailable(self, why: str) -> dict[str, Any]:
        logger.warning("call summary unavailable", extra={"call": self.call_uid, "why": why})
        await self._guard(self.repo.set_outcome(self.call_uid, status="unavailable",
                                                summary=None, outcome=None))
        await self._guard(self.repo.add_call_event(call_uid=self.call_uid,
                                                   kind="summary_unavailable", detail=why))
        return {"status": "unavailable", "summary": None, "outcome": None}

    async def _ended(self, recording: RecordingResult | None, analysis: dict[str, Any]) -> None:
        try:
            record = await self.repo.call(self.call_uid)
        except Exception:
            logger.exception("could not read the call record", extra={"call": self.call_uid})
            record = None
        await self._guard(self.webhooks.emit(CALL_ENDED, {
            "call": call_fields(record),
            "summary": analysis["summary"],
            "outcome": analysis["outcome"],
            "outcome_status": analysis["status"],
            "recording": None if recording is None else {
                "status": recording.status, "consent": str(recording.consent),
                "uri": recording.uri, "duration_s": recording.duration_s,
                "sha256": recording.sha256},
        }))

    async def _guard(self, write: Any) -> None:
        """Await a write; log a failure instead of letting it stop the next step."""
        try:
            await write
        except Exception:
            logger.exception("after-call write failed", extra={"call": self.call_uid})
