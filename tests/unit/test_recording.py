"""Recording consent and the hand-over of the framework's recording to the store.

The audio comes from livekit-agents' real RecorderIO, fed a tone through its own input
wrapper and encoded by its own thread; only the wiring `AgentSession.start(record=...)` does
in a live call (setting `session._recorder_io`) is done by hand here. The live wiring is
covered by tests/integration/test_after_call.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice import io
from livekit.agents.voice.recorder_io import RecorderIO

from agent.call_state import CallState
from agent.data.repository import Repository
from agent.recording.capture import (
    NOT_RECORDING,
    STOPPED,
    CallRecording,
    inspect_audio,
    session_recorder,
)
from agent.recording.consent import Consent, RecordingConsent, is_decline
from agent.recording.store import LocalStore, recording_name
from agent.telephony.keypad import KeypadInput

RATE = 16000
FRAME = RATE // 100  # 10 ms


class ToneInput(io.AudioInput):
    """A caller saying "aaa": a 440 Hz tone, paced like a live track."""

    def __init__(self) -> None:
        super().__init__(label="tone")
        self._n = 0

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(FRAME / RATE)
        t = (np.arange(FRAME) + self._n * FRAME) / RATE
        self._n += 1
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
        return rtc.AudioFrame(pcm.tobytes(), RATE, 1, FRAME)


class Sink(io.AudioOutput):
    def __init__(self) -> None:
        super().__init__(label="sink", capabilities=io.AudioOutputCapabilities(pause=False))

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)

    def flush(self) -> None:
        super().flush()

    def clear_buffer(self) -> None:
        pass


async def recorded_session(tmp_path: Path, seconds: float) -> AgentSession:
    """A session whose RecorderIO captured `seconds` of caller audio and is still recording."""
    session: AgentSession = AgentSession()
    recorder = RecorderIO(agent_session=session)
    source = recorder.record_input(ToneInput())
    recorder.record_output(Sink())
    await recorder.start(output_path=tmp_path / "session" / "audio.ogg")
    session._recorder_io = recorder  # what AgentSession.start(record=...) does in a live call
    for _ in range(int(seconds * 100)):
        await source.__anext__()
    return session


def ogg_files(root: Path) -> list[Path]:
    return list(root.rglob("*.ogg"))


@pytest.fixture
async def repo(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = await Repository.open(f"sqlite:///{tmp_path}/calls.db")
    yield r
    await r.close()


async def started_call(repo: Repository) -> str:
    uid = uuid.uuid4().hex
    await repo.start_call(call_uid=uid, room="r", channel="sip", direction="inbound",
                          caller_masked="…0142", sip_call_id=None)
    return uid


def controller(consent: RecordingConsent, session: AgentSession, uid: str, repo: Repository,
               store_root: Path, events: list[tuple[str, str]]) -> CallRecording:
    return CallRecording(consent, session, call_uid=uid, repo=repo,
                         store=lambda: LocalStore(store_root),
                         on_event=lambda k, d: events.append((k, d)))


# --- consent ---------------------------------------------------------------------------------


def test_consent_choices_per_mode() -> None:
    assert RecordingConsent("off").choice is Consent.OFF
    consent = RecordingConsent("consent")
    assert consent.choice is Consent.NOT_ANNOUNCED and not consent.keep  # nobody heard it yet
    consent.announced()
    assert consent.choice is Consent.GIVEN and consent.keep and consent.capturing
    assert consent.decline("keypad") and consent.choice is Consent.DECLINED
    assert not consent.keep and not consent.capturing
    # a decline is final: nothing turns it back, a second decline changes nothing
    consent.announced()
    assert not consent.decline("speech") and consent.declined_by == "keypad"
    assert consent.choice is Consent.DECLINED
    always = RecordingConsent("always")
    always.announced()
    assert not always.decline("speech"), "always records: a decline is not honoured"
    assert always.choice is Consent.ANNOUNCED and always.keep
    with pytest.raises(ValueError):
        RecordingConsent("sometimes")


def test_the_notice_is_fixed_text_that_says_how_to_decline() -> None:
    consent = RecordingConsent("consent")
    assert consent.notice and "recorded" in consent.notice and "press star" in consent.notice
    assert "recorded" in (RecordingConsent("always").notice or "")
    assert RecordingConsent("off").notice is None and RecordingConsent("off").instructions is None


@pytest.mark.parametrize("words", [
    "please do not record this call", "I don't want to be recorded", "don't record me",
    "stop the recording", "I'd rather not be recorded", "I want to opt out",
    "no recording please", "I do not consent", "can we do this without a recording",
    "I don’t want this call recorded",
])
def test_spoken_declines_are_recognised(words: str) -> None:
    assert is_decline(words)


@pytest.mark.parametrize("words", [
    "I don't mind being recorded", "is this call recorded", "what are your opening hours",
    "you can record it", "I'd like to book an appointment", "where is my order",
])
def test_other_words_are_not_a_decline(words: str) -> None:
    assert not is_decline(words)


async def test_keypad_star_on_an_empty_entry_declines_but_clears_an_entry() -> None:
    state = CallState()
    declines: list[bool] = []

    async def nothing(*_: object) -> None:
        return None

    keypad = KeypadInput(state, nothing, nothing, entry_timeout=5,
                         on_decline_recording=lambda: declines.append(True))
    keypad.handle("1")
    keypad.handle("*")  # clears the entry: not a decline
    assert declines == [] and state.dtmf_buffer == ""
    keypad.handle("*")  # now on an empty entry
    assert declines == [True]
    plain = KeypadInput(CallState(), nothing, nothing, entry_timeout=5)
    plain.handle("*")  # no recording consent in this call: star just clears, as before
    assert plain._state.dtmf_buffer == ""


async def test_the_model_tool_can_only_stop_a_recording(tmp_path: Path,
                                                        repo: Repository) -> None:
    uid = await started_call(repo)
    session = await recorded_session(tmp_path, 0.3)
    consent = RecordingConsent("consent")
    consent.announced()
    events: list[tuple[str, str]] = []
    rec = controller(consent, session, uid, repo, tmp_path / "store", events)
    tool = rec.stop_tool()
    assert tool.info.name == "stop_recording"
    assert await tool() == STOPPED
    assert consent.choice is Consent.DECLINED and consent.declined_by == "assistant"
    assert await tool() == STOPPED  # stays stopped; nothing can start it again
    assert events == [("recording_declined", "assistant")]
    result = await rec.finish()
    assert result.status == "none" and result.consent is Consent.DECLINED
    assert not ogg_files(tmp_path), "the declined capture must be deleted"
    record = await repo.call(uid)
    assert record is not None and record["recording_consent"] == "declined"
    assert record["recording_status"] == "none" and record["recording_uri"] is None
    # in always mode the tool exists nowhere, but even called it changes nothing
    always = RecordingConsent("always")
    other = controller(always, AgentSession(), uid, repo, tmp_path / "store", events)
    assert await other.stop_tool()() == NOT_RECORDING and always.declined_by is None


async def test_the_framework_still_keeps_its_recorder_where_we_read_it() -> None:
    """livekit-agents 1.8 has no public accessor for the session's RecorderIO."""
    import inspect

    from livekit.agents.voice import agent_session

    assert "self._recorder_io = RecorderIO(agent_session=self)" in inspect.getsource(agent_session)
    assert session_recorder(AgentSession()) is None


# --- hand-over to the store -------------------------------------------------------------------


async def test_consented_recording_is_stored_with_duration_and_checksum(
        tmp_path: Path, repo: Repository) -> None:
    uid = await started_call(repo)
    session = await recorded_session(tmp_path, 1.2)
    consent = RecordingConsent("consent")
    consent.announced()
    rec = controller(consent, session, uid, repo, tmp_path / "store", [])
    result = await rec.finish()
    assert result.status == "stored" and result.consent is Consent.GIVEN
    assert result.uri and result.uri.startswith("file://")
    stored = await LocalStore(tmp_path / "store").read(result.uri)
    assert hashlib.sha256(stored).hexdigest() == result.sha256
    assert stored[:4] == b"OggS"
    assert result.duration_s is not None and 1.0 <= result.duration_s <= 10.0
    assert result.uri.endswith(recording_name(uid).split("/", 3)[-1])
    assert not (tmp_path / "session" / "audio.ogg").exists(), "moved, not copied"
    record = await repo.call(uid)
    assert record is not None
    assert (record["recording_status"], record["recording_consent"]) == ("stored", "given")
    assert record["recording_uri"] == result.uri
    assert record["recording_sha256"] == result.sha256
    assert record["recording_duration_s"] == result.duration_s


async def test_a_recording_that_cannot_be_saved_is_logged_and_recorded_as_failed(
        tmp_path: Path, repo: Repository, caplog: pytest.LogCaptureFixture) -> None:
    uid = await started_call(repo)
    session = await recorded_session(tmp_path, 0.3)
    consent = RecordingConsent("always")
    consent.announced()
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    events: list[tuple[str, str]] = []
    rec = controller(consent, session, uid, repo, blocker, events)
    result = await rec.finish()
    assert result.status == "failed" and result.error
    assert any("recording could not be saved" in r.getMessage() for r in caplog.records)
    assert events and events[0][0] == "recording_failed"
    record = await repo.call(uid)
    assert record is not None and record["recording_status"] == "failed"
    assert record["recording_error"] == result.error and record["recording_consent"] == "announced"


async def test_without_the_database_a_consented_recording_is_not_kept(tmp_path: Path) -> None:
    """A file no call record links could never be found by retention or erasure."""
    session = await recorded_session(tmp_path, 0.3)
    consent = RecordingConsent("consent")
    consent.announced()
    rec = CallRecording(consent, session, call_uid=uuid.uuid4().hex, repo=lambda: None,
                        store=lambda: pytest.fail("nothing may be stored"),
                        on_event=lambda k, d: None)
    result = await rec.finish()
    assert (result.status, result.consent) == ("failed", Consent.GIVEN)
    assert result.uri is None and not ogg_files(tmp_path)


async def test_a_notice_nobody_heard_keeps_nothing(tmp_path: Path, repo: Repository) -> None:
    uid = await started_call(repo)
    session = await recorded_session(tmp_path, 0.3)
    rec = controller(RecordingConsent("consent"), session, uid, repo, tmp_path / "store", [])
    result = await rec.finish()  # the caller hung up during the notice
    assert (result.status, result.consent) == ("none", Consent.NOT_ANNOUNCED)
    assert not ogg_files(tmp_path)


async def test_inspect_audio_measures_the_encoded_file(tmp_path: Path) -> None:
    session = await recorded_session(tmp_path, 0.5)
    recorder = session_recorder(session)
    assert recorder is not None and recorder.output_path is not None
    await recorder.aclose()
    sha, duration, size = inspect_audio(recorder.output_path)
    assert sha == hashlib.sha256(recorder.output_path.read_bytes()).hexdigest()
    assert 0.4 <= duration <= 10.0 and size == recorder.output_path.stat().st_size


async def test_local_store_refuses_uris_outside_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    source = tmp_path / "x.ogg"
    source.write_bytes(b"OggS....")
    uri = await store.save(source, "2026/01/01/x.ogg", sha256="0")
    assert await store.read(uri) == b"OggS...."
    with pytest.raises(ValueError):
        await store.delete((tmp_path / "elsewhere.ogg").as_uri())
    with pytest.raises(ValueError):
        await store.delete("s3://bucket/x.ogg")
    assert await store.delete(uri) is True
    assert await store.delete(uri) is False  # already gone
