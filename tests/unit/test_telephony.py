"""Telephony logic: caller identity, transfer outcome checks and fallbacks, keypad input."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from livekit import api, rtc

from agent.call_state import CallerInfo, CallState
from agent.telephony.caller import caller_from_participant
from agent.telephony.cold_transfer import cold_transfer
from agent.telephony.destinations import TransferPlan
from agent.telephony.keypad import KeypadInput, dtmf_digit

PLAN = TransferPlan.parse("support=sip:support@pbx, sales=tel:+15550100200",
                          fallback="sip:frontdesk@pbx")


def phone_state() -> CallState:
    return CallState(room_name="call-1", caller=CallerInfo(identity="sip_+15550001111",
                                                           kind="sip", phone_number="+15550001111"))


def response(status: int) -> api.TransferSIPParticipantResponse:
    return api.TransferSIPParticipantResponse(status=status)


def test_sip_attributes_become_caller_info() -> None:
    p = SimpleNamespace(identity="sip_+15550001111", kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
                        attributes={"sip.phoneNumber": "+15550001111", "sip.callID": "SCL_1",
                                    "sip.trunkPhoneNumber": "+15550002222", "sip.ruleID": "SDR_1"})
    caller = caller_from_participant(p)  # type: ignore[arg-type]
    assert (caller.phone_number, caller.dialled_number, caller.call_id) == (
        "+15550001111", "+15550002222", "SCL_1")
    assert caller.is_phone and caller.direction == "inbound"
    p.attributes.pop("sip.ruleID")
    assert caller_from_participant(p).direction == "outbound"  # type: ignore[arg-type]
    web = SimpleNamespace(identity="web", kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
                          attributes={})
    assert not caller_from_participant(web).is_phone  # type: ignore[arg-type]


def test_transfer_plan_parsing_and_order() -> None:
    assert PLAN.candidates("Sales") == ["tel:+15550100200", "sip:frontdesk@pbx"]
    assert PLAN.candidates("unknown") == ["sip:frontdesk@pbx"]
    with pytest.raises(ValueError, match="department=sip:"):
        TransferPlan.parse("support=555")
    with pytest.raises(ValueError, match="sip:, sips: or tel:"):
        TransferPlan.parse("support=sip:a@pbx", fallback="555")


async def test_successful_refer_is_reported() -> None:
    tried = []

    async def refer(room: str, identity: str, dest: str) -> api.TransferSIPParticipantResponse:
        tried.append((room, identity, dest))
        return response(api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL)

    outcome = await cold_transfer(phone_state(), PLAN, "support", refer)
    assert outcome.ok and outcome.destination == "sip:support@pbx"
    assert tried == [("call-1", "sip_+15550001111", "sip:support@pbx")]


async def test_failure_without_exception_tries_the_fallback() -> None:
    """The API can answer 'failed' without raising: the status is checked."""
    statuses = [api.SIPTransferStatus.STS_TRANSFER_FAILED,
                api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL]
    tried = []

    async def refer(room: str, identity: str, dest: str) -> api.TransferSIPParticipantResponse:
        tried.append(dest)
        return response(statuses.pop(0))

    outcome = await cold_transfer(phone_state(), PLAN, "support", refer)
    assert outcome.ok and outcome.destination == "sip:frontdesk@pbx"
    assert tried == ["sip:support@pbx", "sip:frontdesk@pbx"]


async def test_rejected_refer_everywhere_is_a_clean_failure() -> None:
    async def refer(room: str, identity: str, dest: str) -> api.TransferSIPParticipantResponse:
        raise api.SipCallError("failed", "rejected", status=400,
                               metadata={"sip_status_code": "603", "sip_status": "Decline"})

    outcome = await cold_transfer(phone_state(), PLAN, "support", refer)
    assert not outcome.ok and "603" in outcome.detail


LOST_ANSWER = api.SipCallError("canceled", "transaction failed to complete (0 intermediate "
                               "responses)", status=408, metadata={"sip_status_code": "408"})


async def test_a_refer_whose_answer_was_lost_counts_if_the_caller_is_taken_away(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge can lose the phone's answer to a REFER the phone carries out: the caller's
    leg leaving right after is the transfer, not a hang-up after a failed transfer."""
    monkeypatch.setattr("agent.telephony.cold_transfer.LOST_ANSWER_GRACE_S", 2.0)
    state = phone_state()

    async def refer(*_: str) -> api.TransferSIPParticipantResponse:
        asyncio.get_running_loop().call_later(0.2, state.caller_left)
        raise LOST_ANSWER

    outcome = await cold_transfer(state, PLAN, "support", refer)
    assert outcome.ok and outcome.destination == "sip:support@pbx"
    assert state.ended_by == "transfer"


async def test_a_lost_answer_with_the_caller_still_there_is_a_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.telephony.cold_transfer.LOST_ANSWER_GRACE_S", 0.1)
    tried = []

    async def refer(room: str, identity: str, dest: str) -> api.TransferSIPParticipantResponse:
        tried.append(dest)
        raise LOST_ANSWER

    state = phone_state()
    outcome = await cold_transfer(state, PLAN, "support", refer)
    assert not outcome.ok and "408" in outcome.detail
    assert tried == ["sip:support@pbx", "sip:frontdesk@pbx"] and state.ended_by is None
    state.caller_left()  # a hang-up after the failed transfer is the caller's
    assert state.ended_by == "caller"


async def test_a_refused_refer_does_not_wait_for_the_caller(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(_: CallState) -> bool:
        raise AssertionError("a refusal is an answer: nothing to wait for")

    monkeypatch.setattr("agent.telephony.cold_transfer._caller_taken", never)

    async def refer(*_: str) -> api.TransferSIPParticipantResponse:
        raise api.SipCallError("failed", "rejected", status=400,
                               metadata={"sip_status_code": "603", "sip_status": "Decline"})

    outcome = await cold_transfer(phone_state(), PLAN, "support", refer)
    assert not outcome.ok and "603" in outcome.detail


async def test_browser_callers_are_not_referred() -> None:
    async def refer(*_: str) -> api.TransferSIPParticipantResponse:
        raise AssertionError("must not be called")

    outcome = await cold_transfer(CallState(), PLAN, "support", refer)
    assert not outcome.ok


async def test_keypad_zero_asks_for_a_human_and_digits_are_collected() -> None:
    state = phone_state()
    humans, entries = [], []

    async def on_human() -> None:
        humans.append(True)

    async def on_entry() -> None:  # told that an entry came, never what it was
        entries.append(state.dtmf_buffer)

    keypad = KeypadInput(state, on_human, on_entry, entry_timeout=0.2)
    keypad.handle("0")
    await asyncio.sleep(0)
    assert humans == [True] and state.dtmf_buffer == ""
    for d in "2468":
        keypad.handle(d)
    keypad.handle("#")
    await asyncio.sleep(0.01)
    assert entries == ["2468"] and state.dtmf_buffer == "2468"
    keypad.handle("*")
    assert state.dtmf_buffer == ""
    keypad.handle("1")
    keypad.handle("0")  # a zero inside an entry is a digit, not a transfer
    await asyncio.sleep(0.3)  # the pause submits the entry
    assert entries[-1] == "10" and humans == [True]


def test_dtmf_codes_map_to_keys() -> None:
    assert dtmf_digit(10, "") == "*" and dtmf_digit(11, "") == "#" and dtmf_digit(5, "") == "5"


def test_worker_load_counts_calls_not_machine_cpu() -> None:
    """livekit-server stops routing to a worker whose load nears 1.0: it must mean 'full'."""
    from agent.worker import call_load

    server = SimpleNamespace(active_jobs=[])
    load = call_load(4)
    assert load(server) == 0.0  # type: ignore[arg-type]
    server.active_jobs = [1, 2, 3]
    assert load(server) == 0.75  # type: ignore[arg-type]
    server.active_jobs = [1, 2, 3, 4, 5]
    assert load(server) == 1.0  # type: ignore[arg-type]


def test_ended_by_is_a_closed_set_and_the_first_reason_wins() -> None:
    from agent.call_state import EndedBy

    assert {e.value for e in EndedBy} == {"caller", "agent", "transfer", "error", "voicemail",
                                          "busy", "no_answer", "failed"}
    state = phone_state()
    state.end(EndedBy.AGENT)
    state.caller_left()  # the bridge drops the leg after end_call: still the agent's doing
    assert state.ended_by is EndedBy.AGENT
    state.end(EndedBy.BUSY, override=True)  # an outbound dial outcome replaces a hang-up
    assert state.ended_by == "busy"
    transferring = phone_state()
    transferring.transfer_in_progress = True
    transferring.caller_left()
    assert transferring.ended_by is EndedBy.TRANSFER
    with pytest.raises(ValueError):
        phone_state().end("hung_up")  # type: ignore[arg-type]
