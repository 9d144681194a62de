"""The one way the agent dials a phone: `CreateSIPParticipant` through the outbound trunk.

Outbound calls and warm transfers both dial here, so both read a failed dial the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.duration_pb2 import Duration
from livekit import api

logger = logging.getLogger("phone-agent.dialer")

OUTBOUND_TRUNK_NAME = "phone-agent-outbound"  # sip/outbound-trunk.json


class DialOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


@dataclass(frozen=True)
class DialResult:
    outcome: DialOutcome
    detail: str

    @property
    def answered(self) -> bool:
        return self.outcome is DialOutcome.ANSWERED


def classify_dial_error(sip_status_code: int | None, message: str = "") -> DialOutcome:
    """Map a failed CreateSIPParticipant to an outcome.

    livekit-sip v1.8.0 returns the callee's final SIP status for a rejected INVITE (486 Busy
    Here, 603 Decline, 480, ...); when its ringing timeout expires it CANCELs the INVITE and
    fails with "sip request timed out" and no SIP status (psrpc Canceled).
    """
    if sip_status_code in (486, 600, 603):
        return DialOutcome.BUSY
    if sip_status_code in (408, 480, 487):
        return DialOutcome.NO_ANSWER
    text = message.lower()
    if not sip_status_code and ("timed out" in text or "timeout" in text
                                or "deadline" in text):
        return DialOutcome.NO_ANSWER
    return DialOutcome.FAILED


async def outbound_trunk_id(lk: api.LiveKitAPI, configured: str | None) -> str:
    """SIP_OUTBOUND_TRUNK_ID, else the trunk `sip.provision` created by name."""
    if configured:
        return configured
    trunks = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    for trunk in trunks.items:
        if trunk.name == OUTBOUND_TRUNK_NAME:
            return str(trunk.sip_trunk_id)
    raise RuntimeError(f"no outbound trunk named {OUTBOUND_TRUNK_NAME!r}; run "
                       "`python -m sip.provision apply` or set SIP_OUTBOUND_TRUNK_ID")


async def dial(lk: api.LiveKitAPI, *, trunk_id: str | None, number: str, room: str,
               identity: str, name: str, ringing_timeout: int) -> DialResult:
    """Dial `number` into `room` and wait until it is answered (or definitely is not).

    `trunk_id` None looks the trunk up by name. Never raises: every failure is an outcome."""
    try:
        trunk = await outbound_trunk_id(lk, trunk_id)
        await lk.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id=trunk,
                sip_call_to=number,
                room_name=room,
                participant_identity=identity,
                participant_name=name,
                wait_until_answered=True,
                ringing_timeout=Duration(seconds=ringing_timeout),
            ),
            timeout=ringing_timeout + 10,
        )
    except api.SipCallError as e:
        code = e.sip_status_code
        return DialResult(classify_dial_error(code, e.message),
                          f"SIP {code or '-'} {e.sip_status or ''} {e.message}".strip())
    except api.TwirpError as e:  # no SIP status: livekit-sip's ringing timeout ends up here
        return DialResult(classify_dial_error(None, e.message), f"{e.code}: {e.message}")
    except TimeoutError:
        return DialResult(DialOutcome.NO_ANSWER, "no answer before the request timed out")
    except Exception as e:  # the bridge down, a bad trunk, no trunk provisioned, ...
        return DialResult(DialOutcome.FAILED, f"{type(e).__name__}: {e}")
    return DialResult(DialOutcome.ANSWERED, "answered")
