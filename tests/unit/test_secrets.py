"""Issue 9, secrets: database passwords and short keys never reach a message, a repr or a log
line; trunk passwords never reach `python -m sip.provision list`."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from livekit import api

from agent.config import ConfigError, load_settings
from agent.data.db import Database, DatabaseError
from agent.observability.redaction import install_log_redaction
from sip import provision
from tests.support.logs import root_log

GOOD = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880",
    "LIVEKIT_API_KEY": "devkey",  # LiveKit's dev key: six characters
    "LIVEKIT_API_SECRET": "s" * 40,
    "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789",
    "ELEVEN_API_KEY": "el-0123456789",
}
DB_PASSWORD = "Pg-pass-42"
DB_URL = f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/phone"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    with root_log(logging.Formatter("%(message)s %(detail)s")) as stream:
        yield stream


def test_database_password_never_in_repr_or_config_error() -> None:
    settings = load_settings({**GOOD, "DATABASE_URL": DB_URL})
    assert DB_PASSWORD not in repr(settings)
    assert "postgresql://app:***@127.0.0.1:1/phone" in repr(settings)
    assert str(settings.database_url) == DB_URL  # still usable to connect
    assert DB_PASSWORD in settings.secrets()  # registered for scrubbing, like the API keys
    with pytest.raises(ConfigError) as exc:
        load_settings({**GOOD, "DATABASE_URL": f"mysql://app:{DB_PASSWORD}@db/phone"})
    assert "DATABASE_URL" in str(exc.value) and DB_PASSWORD not in str(exc.value)


def test_database_password_and_short_keys_never_in_a_log_line(
        log_stream: io.StringIO) -> None:
    settings = load_settings({**GOOD, "DATABASE_URL": DB_URL})
    install_log_redaction(settings.secrets())
    log = logging.getLogger("phone-agent.test")
    log.info("connecting to %s", DB_URL, extra={"detail": f"password={DB_PASSWORD}"})
    log.info("worker registered with key %s", "devkey", extra={"detail": "api_key devkey"})
    out = log_stream.getvalue()
    assert DB_PASSWORD not in out and "devkey" not in out, out
    assert "[SECRET]" in out


async def test_a_database_that_cannot_be_opened_names_no_password(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as exc:
        await Database.open(DB_URL)  # nothing listens on port 1
    assert DB_PASSWORD not in str(exc.value) and exc.value.__cause__ is None


@dataclass
class _Listing:
    items: list[Any]


class _Sip:
    async def list_inbound_trunk(self, _: Any) -> _Listing:
        return _Listing([api.SIPInboundTrunkInfo(
            sip_trunk_id="ST_in", name="phone-agent-inbound", numbers=["+15550100100"],
            auth_username="carrier", auth_password="in-trunk-secret")])

    async def list_outbound_trunk(self, _: Any) -> _Listing:
        return _Listing([api.SIPOutboundTrunkInfo(
            sip_trunk_id="ST_out", name="phone-agent-outbound", address="sip.example.com",
            auth_username="carrier", auth_password="out-trunk-secret")])

    async def list_dispatch_rule(self, _: Any) -> _Listing:
        return _Listing([])


class _LiveKit:
    sip = _Sip()


async def test_provision_list_never_prints_a_trunks_password() -> None:
    lines = await provision.listing(_LiveKit())  # type: ignore[arg-type]
    text = "\n".join(lines)
    assert "phone-agent-inbound" in text and "phone-agent-outbound" in text
    assert "carrier" in text  # the rest of the trunk is still listed
    assert "in-trunk-secret" not in text and "out-trunk-secret" not in text
    assert '"auth_password": "***"' in text
