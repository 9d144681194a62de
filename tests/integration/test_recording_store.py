"""The S3 recordings store against a real S3-compatible server (SeaweedFS), and erasure
deleting what it stored."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from agent.config import load_settings
from agent.data.forget import forget
from agent.data.repository import Repository
from agent.phones import caller_key
from agent.recording.store import S3Store, open_store
from tests.support.s3 import S3Server

CALLER = "+14155550199"
BASE_ENV = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 40, "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789", "ELEVEN_API_KEY": "el-0123456789",
}


def recording(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex}.ogg"
    path.write_bytes(content)
    return path


async def test_save_read_delete_on_a_real_s3_server(s3_server: S3Server,
                                                    tmp_path: Path) -> None:
    settings = load_settings({**BASE_ENV, **s3_server.env("calls")})
    store = open_store(settings)
    assert isinstance(store, S3Store)
    content = b"OggS" + bytes(range(256)) * 400
    source = recording(tmp_path, content)
    sha = hashlib.sha256(content).hexdigest()
    uri = await store.save(source, "2026/11/09/abc.ogg", sha256=sha)
    assert uri == f"s3://{s3_server.bucket}/calls/2026/11/09/abc.ogg"
    assert not source.exists(), "the local file is handed over, not left behind"
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key="calls/2026/11/09/abc.ogg")
    assert head["ContentType"] == "audio/ogg" and head["Metadata"]["sha256"] == sha
    assert await store.read(uri) == content
    with pytest.raises(ValueError):
        await store.delete("s3://another-bucket/calls/x.ogg")
    with pytest.raises(ValueError):
        await store.delete((tmp_path / "x.ogg").as_uri())
    assert await store.delete(uri) is True
    assert await store.delete(uri) is False
    assert "calls/2026/11/09/abc.ogg" not in s3_server.keys("calls/")


async def test_wrong_credentials_fail_loudly(s3_server: S3Server,
                                             tmp_path: Path) -> None:
    store = S3Store(s3_server.bucket, "calls", endpoint_url=s3_server.endpoint,
                    region="us-east-1", access_key_id=s3_server.access_key,
                    secret_access_key="not-the-secret")
    source = recording(tmp_path, b"OggS")
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch|AccessDenied|403"):
        await store.save(source, "x.ogg", sha256="0")
    assert source.exists(), "a failed upload keeps the file"


async def test_forget_deletes_the_callers_recordings_from_the_bucket(
        s3_server: S3Server, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/calls.db"
    settings = load_settings({**BASE_ENV, **s3_server.env("forget"), "DATABASE_URL": db_url,
                              "CALLER_HASH_KEY": "k" * 40})
    store = open_store(settings)
    repo = await Repository.open(db_url)
    try:
        uids = []
        for phone in (CALLER, CALLER, "+14155550111"):
            uid = uuid.uuid4().hex
            await repo.start_call(call_uid=uid, room=uid, channel="sip", direction="inbound",
                                  caller_masked=None, sip_call_id=None,
                                  caller_key=caller_key(phone, settings.caller_key_secret))
            uri = await store.save(recording(tmp_path, b"OggS" + uid.encode()), f"{uid}.ogg",
                                   sha256="0")
            await repo.set_recording(uid, consent="given", status="stored", uri=uri)
            uids.append(uid)
        assert len(s3_server.keys("forget/")) == 3
        report = await forget(repo, settings, phone=CALLER)
    finally:
        await repo.close()
    assert report.failures == [] and report.erased.recordings == 2
    assert s3_server.keys("forget/") == [f"forget/{uids[2]}.ogg"]
