"""Pure logic of outbound calls and the warm transfer."""

from __future__ import annotations

import json

from agent.config import load_settings
from agent.telephony.briefing import fallback_summary, redact_digits
from agent.telephony.destinations import WarmTransferPlan
from agent.telephony.dialer import classify_dial_error
from agent.telephony.outbound import (
    OutboundRequest,
    clean_purpose,
    outcome_of_amd,
    valid_number,
)


def test_dial_errors_map_to_outcomes() -> None:
    assert classify_dial_error(486, "INVITE failed: 486 Busy Here") == "busy"
    assert classify_dial_error(603) == "busy"
    assert classify_dial_error(480) == "no_answer"
    assert classify_dial_error(487) == "no_answer"
    # livekit-sip v1.8.0's ringing timeout: CANCEL, then "sip request timed out", no status
    assert classify_dial_error(None, "twirp error unknown: sip request timed out") == "no_answer"
    assert classify_dial_error(None, "twirp error unknown: cpu exhausted") == "failed"
    assert classify_dial_error(404, "not found") == "failed"


def test_outbound_request_round_trips_through_dispatch_metadata() -> None:
    req = OutboundRequest("+15550107777", "appointment reminder", "abc123")
    again = OutboundRequest.from_metadata(json.loads(req.metadata()))
    assert again == req
    assert OutboundRequest.from_metadata({"purpose": "inbound"}) is None


def test_purpose_and_number_are_sanitised() -> None:
    assert clean_purpose("  appointment\n\nreminder ") == "appointment reminder"
    assert clean_purpose("appoint\u202ement\x1b reminder") == "appointment reminder"
    assert clean_purpose("") == ""  # no purpose: the dispatch does not dial
    assert len(clean_purpose("x" * 1000)) == 160
    assert valid_number("+15550107777")
    assert not valid_number("15550107777") and not valid_number("+1555; rm")


def test_amd_categories() -> None:
    assert outcome_of_amd("human") == "answered"
    assert outcome_of_amd("uncertain") == "answered"
    assert outcome_of_amd("machine-vm") == "voicemail"
    assert outcome_of_amd("machine-unavailable") == "voicemail"


def test_warm_transfer_plan() -> None:
    plan = WarmTransferPlan.parse("support=+15550109999, Sales=+15550108888,default=+1555")
    assert plan.number_for("support") == "+15550109999"
    assert plan.number_for("SALES") == "+15550108888"
    assert plan.number_for("billing") == "+1555"
    assert WarmTransferPlan.parse("").number_for("support") is None


def test_fallback_summary_keeps_numbers_out() -> None:
    note = fallback_summary([("assistant", "Hi"), ("user", "my card is 4111 1111 1111 1111")],
                            "billing")
    assert note.startswith("Hello, I have a caller for billing.")
    assert "4111" not in note and "[number]" in note
    assert redact_digits("call 555-0100") == "call [number]"


def test_new_settings_have_defaults_and_checks() -> None:
    base = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "s" * 32, "DEEPGRAM_API_KEY": "d", "DEEPSEEK_API_KEY": "d",
            "ELEVEN_API_KEY": "e"}
    s = load_settings(base)
    assert (s.outbound_ringing_timeout, s.outbound_amd, s.sip_outbound_trunk_id) == (30, True,
                                                                                     None)
    s = load_settings({**base, "OUTBOUND_AMD": "off", "OUTBOUND_RINGING_TIMEOUT": "8",
                       "WARM_TRANSFER_DESTINATIONS": "support=+15550109999"})
    assert not s.outbound_amd and s.outbound_ringing_timeout == 8
    import pytest

    from agent.config import ConfigError

    with pytest.raises(ConfigError, match="WARM_TRANSFER_DESTINATIONS"):
        load_settings({**base, "WARM_TRANSFER_DESTINATIONS": "support"})
    with pytest.raises(ConfigError, match="OUTBOUND_RINGING_TIMEOUT"):
        load_settings({**base, "OUTBOUND_RINGING_TIMEOUT": "2"})
