"""Issue 9, personal data: the framework's own `lk.pii.*` log fields, unparseable tool
arguments, and free text with invisible characters."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from livekit.agents.cli.log import JsonFormatter

from agent import tools as business
from agent.data.repository import Repository
from agent.observability.redaction import install_log_redaction
from agent.speech_text import normalize_for_speech
from agent.tools.audit import redact_raw_arguments
from agent.tools.validation import clean_text
from tests.support.logs import root_log
from tests.support.tool_ctx import call, verified_ctx

INVISIBLE = "\x9b\u2066\u2069\u2060\u200b\u202e\u061c\ufeff\u00ad\x1b"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    with root_log(JsonFormatter()) as stream:  # what `python agent.py start` writes
        yield stream


def test_the_frameworks_pii_fields_never_reach_the_log(json_log: io.StringIO) -> None:
    install_log_redaction()
    # The records LiveKit's own code writes (audio_recognition.py, dtmf_inputs.py, ...)
    framework = logging.getLogger("livekit.agents")
    framework.debug("received user transcript",
                    extra={"lk.pii.user_transcript": "2468", "language": "en"})
    framework.debug("Generating DTMF reply", extra={"lk.pii.dtmf_inputs": "2 4 6 8 #"})
    framework.debug("executing tool", extra={"lk.pii.arguments": '{"pin": "2468"}',
                                             "function": "verify_identity"})
    framework.debug("tool output", extra={"lk.pii.output": "Verified. The caller is Maria "
                                                           "Alvarez, born 1985-03-14."})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    text = json_log.getvalue()
    for leak in ("2468", "2 4 6 8", "1985", "Alvarez"):
        assert leak not in text, text
    assert lines[0]["lk.pii.user_transcript"] == "[PII]" and lines[0]["language"] == "en"
    assert lines[2]["function"] == "verify_identity"


def test_unparseable_arguments_are_redacted_for_the_audit() -> None:
    raw = '{"pin": "2468", "date_of_birth": "1985-03-14", "note": "call 415 555 0142'
    out = redact_raw_arguments(raw)
    for leak in ("2468", "1985", "03-14", "555 0142"):
        assert leak not in out
    assert '"pin": "[redacted]"' in out and "[PHONE …0142]" in out
    assert redact_raw_arguments("order number one hundred ✓") == "order number one hundred ✓"
    assert "4821" not in redact_raw_arguments("4821 ✓ please")  # a bare number may be a PIN


def test_free_text_loses_control_bidi_and_zero_width_characters() -> None:
    dirty = f"TV{INVISIBLE} has no sound"
    assert clean_text(dirty, what="subject", max_len=120) == "TV has no sound"
    assert clean_text("line one\nline\ttwo", what="x", max_len=50) == "line one line two"
    spoken = normalize_for_speech(f"Your ticket{INVISIBLE} is open.")
    assert all(ch not in spoken for ch in INVISIBLE) and "ticket is open" in spoken


@pytest.fixture
async def repo(seeded_repo: Repository) -> Repository:
    return seeded_repo


async def test_free_text_is_stored_without_invisible_characters(repo: Repository) -> None:
    ctx = await verified_ctx(repo)
    maria_id = ctx.userdata.verified_customer_id or 0
    ticket = {"subject": f"No{INVISIBLE} sound",
              "description": f"The TV\u2067 has\u200d no sound at all.{INVISIBLE}"}
    ctx.user_says("open a ticket")
    ctx.tool_returned(await call(ctx, business.create_support_ticket, **ticket))
    ctx.user_says("yes")
    assert "Ticket" in await call(ctx, business.create_support_ticket, **ticket)
    (saved,) = await repo.tickets_for_customer(maria_id)
    assert saved.subject == "No sound"
    assert saved.description == "The TV has no sound at all."
