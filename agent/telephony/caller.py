"""Who is calling: the SIP bridge's participant attributes (or a browser participant)."""

from __future__ import annotations

from livekit import rtc

from ..call_state import CallerInfo


def caller_from_participant(participant: rtc.RemoteParticipant) -> CallerInfo:
    """Read caller number, dialled number and call id from the SIP bridge's attributes."""
    attrs = participant.attributes or {}
    is_sip = participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    if not is_sip:
        return CallerInfo(identity=participant.identity, kind="browser")
    # The bridge sets sip.ruleID only for inbound calls (matched by a dispatch rule).
    direction = "inbound" if attrs.get("sip.ruleID") else "outbound"
    return CallerInfo(
        identity=participant.identity,
        kind="sip",
        phone_number=attrs.get("sip.phoneNumber") or None,
        dialled_number=attrs.get("sip.trunkPhoneNumber") or None,
        call_id=attrs.get("sip.callID") or None,
        direction=direction,
    )
