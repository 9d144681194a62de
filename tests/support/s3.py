"""A real S3-compatible server for tests: SeaweedFS (`weed mini`, built by scripts/install.sh)
with its S3 gateway on 127.0.0.1, a random key pair and a `recordings` bucket.

Only inside the private network namespace (the integration tests' conftest skips otherwise):
`weed` binds loopback there, and its telemetry is switched off in any case.

    def test_x(s3_server: S3Server) -> None:
        s3_server.client().list_objects_v2(Bucket=s3_server.bucket)
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack import services as svc

BUCKET = "recordings"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str = BUCKET

    def env(self, prefix: str = "calls") -> dict[str, str]:
        """The worker settings that store recordings in this server's bucket."""
        return {"RECORDINGS_STORE": f"s3://{self.bucket}/{prefix}",
                "S3_ENDPOINT_URL": self.endpoint, "S3_REGION": "us-east-1",
                "S3_ACCESS_KEY_ID": self.access_key, "S3_SECRET_ACCESS_KEY": self.secret_key}

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for o in listing.get("Contents", [])]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Registered once, in tests/integration/conftest.py: one server for the whole run."""
    port = _free_port()
    server = S3Server(endpoint=f"http://127.0.0.1:{port}",
                      access_key="test" + secrets.token_hex(8),
                      secret_key=secrets.token_urlsafe(24))
    service = svc.seaweedfs(tmp_path_factory.mktemp("seaweedfs"),
                            access_key=server.access_key, secret_key=server.secret_key,
                            buckets=(BUCKET,), s3_port=port)
    service.start()
    try:
        service.wait_ready()
        yield server
    finally:
        service.stop()
