"""Where recordings are kept: a local directory (default) or an S3-compatible bucket.

Recordings are named `YYYY/MM/DD/<call uid>.ogg` and addressed by URI: `file:///abs/path` for
the local store, `s3://bucket/key` for S3. The URI is what the call record links to, what the
`recording.ready` webhook carries, and what retention and erasure delete.

S3 goes through boto3 (any S3-compatible service: AWS, MinIO, SeaweedFS, Ceph...), with
path-style addressing when an endpoint is given and checksums only where the API requires
them, which every S3-compatible server accepts. Credentials are always explicit settings, so
boto3 never goes looking for instance metadata.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from ..config import Settings

CONTENT_TYPE = "audio/ogg"


def recording_name(call_uid: str, started: datetime | None = None) -> str:
    day = (started or datetime.now(UTC)).strftime("%Y/%m/%d")
    return f"{day}/{call_uid}.ogg"


class RecordingStore(Protocol):
    async def save(self, source: Path, name: str, *, sha256: str) -> str:
        """Move the finished file `source` into the store as `name`; returns its URI."""
        ...

    async def read(self, uri: str) -> bytes: ...

    async def delete(self, uri: str) -> bool:
        """Remove the recording; False if it was already gone. ValueError: not this store's."""
        ...


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        path = Path(unquote(parsed.path)).resolve()
        if parsed.scheme != "file" or not path.is_relative_to(self.root):
            raise ValueError(f"not a recording of the local store {self.root}: {uri}")
        return path

    async def save(self, source: Path, name: str, *, sha256: str) -> str:
        target = self.root / name

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            # The job's session directory may be on another filesystem: copy, then rename
            # into place, so a reader never sees a half-written recording.
            partial = target.with_suffix(".partial")
            shutil.copyfile(source, partial)
            partial.replace(target)
            source.unlink(missing_ok=True)

        await asyncio.to_thread(move)
        return target.as_uri()

    async def read(self, uri: str) -> bytes:
        return await asyncio.to_thread(self._path(uri).read_bytes)

    async def delete(self, uri: str) -> bool:
        path = self._path(uri)

        def remove() -> bool:
            existed = path.exists()
            path.unlink(missing_ok=True)
            return existed

        return await asyncio.to_thread(remove)


class S3Store:
    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None, region: str,
                 access_key_id: str, secret_access_key: str) -> None:
        import boto3  # type: ignore[import-untyped]  # ships no type information
        from botocore.config import Config  # type: ignore[import-untyped]

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = boto3.client(  # boto3 ships no type information
            "s3", endpoint_url=endpoint_url, region_name=region,
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3},
                          connect_timeout=10, read_timeout=60,
                          s3={"addressing_style": "path" if endpoint_url else "auto"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def _key(self, uri: str) -> str:
        parsed = urlparse(uri)
        key = parsed.path.lstrip("/")
        if parsed.scheme != "s3" or parsed.netloc != self.bucket or not key:
            raise ValueError(f"not a recording of bucket {self.bucket}: {uri}")
        return key

    async def save(self, source: Path, name: str, *, sha256: str) -> str:
        key = f"{self.prefix}/{name}" if self.prefix else name

        def upload() -> None:
            self._client.upload_file(
                str(source), self.bucket, key,
                ExtraArgs={"ContentType": CONTENT_TYPE, "Metadata": {"sha256": sha256}})
            source.unlink(missing_ok=True)

        await asyncio.to_thread(upload)
        return f"s3://{self.bucket}/{key}"

    async def read(self, uri: str) -> bytes:
        key = self._key(uri)

        def get() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return await asyncio.to_thread(get)

    async def delete(self, uri: str) -> bool:
        key = self._key(uri)

        def remove() -> bool:
            from botocore.exceptions import ClientError  # type: ignore[import-untyped]

            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            self._client.delete_object(Bucket=self.bucket, Key=key)
            return True

        return await asyncio.to_thread(remove)


def open_store(settings: Settings) -> RecordingStore:
    """The store RECORDINGS_STORE names (config validation guarantees S3 credentials)."""
    where = settings.recordings_store
    if where.startswith("s3://"):
        parsed = urlparse(where)
        return S3Store(parsed.netloc, parsed.path, endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region,
                       access_key_id=settings.s3_access_key_id or "",
                       secret_access_key=settings.s3_secret_access_key or "")
    return LocalStore(where)
