"""Phone calls over real SIP: baresip → livekit-sip → livekit-server → the agent worker."""

from __future__ import annotations

import asyncio

from devstack.baresip import write_wav8k
from emulators.llm_script import Script, reply
from emulators.recognizer import get_recognizer
from emulators.speech import resample, synthesize
from sip import provision

from .conftest import OUR_NUMBER, SipStack

GREETING = "Hello, this is the Northwind AI assistant. How can I help you today?"
HOURS = "We are open from eight in the morning until six in the evening."
OTHERS = ["Your order has shipped and will arrive tomorrow.",
          "Sorry, I did not catch that. Could you say it again?"]


def heard_in(pcm8k: bytes, expected: str, *others: str) -> bool:
    """Does `expected` appear in the received audio? (sliding recognition over speech runs)"""
    rec = get_recognizer([expected, *others, *OTHERS])
    pcm16 = resample(pcm8k, 8000, 16000)
    return any(rec.recognize(seg, 16000).text == expected for seg in _speech_runs(pcm16))


def _speech_runs(pcm16: bytes, frame: int = 320, gap_frames: int = 25) -> list[bytes]:
    import numpy as np

    x = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
    n = len(x) // frame
    voiced = [float(np.sqrt(np.mean(x[i * frame:(i + 1) * frame] ** 2))) > 300 for i in range(n)]
    runs, start, quiet = [], None, 0
    for i, v in enumerate(voiced + [False] * gap_frames):
        if v:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= gap_frames:
                runs.append(pcm16[start * frame * 2:(i - quiet + 1) * frame * 2])
                start, quiet = None, 0
    return runs


async def test_provisioning_is_idempotent(sip: SipStack) -> None:
    assert {c.kind for c in sip.provisioned} == {"inbound", "outbound", "rule"}
    async with provision._client() as lk:
        again = await provision.apply(lk)
        listed = await provision.listing(lk)
    assert [c.action for c in again] == ["unchanged"] * 3
    assert [c.id for c in again] == [c.id for c in sip.provisioned]
    assert any("phone-agent-calls" in line and "phone-agent-test" in line for line in listed)


async def test_inbound_call_is_answered_greets_and_answers(sip: SipStack) -> None:
    sip.live.reset(Script([reply(GREETING, when="greet the caller"),
                           reply(HOURS, when="opening hours")]))
    async with sip.user_agent() as ua:
        await ua.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
        await ua.wait_for("CALL_ESTABLISHED", within=40)
        await asyncio.sleep(7)  # the greeting
        question = resample(synthesize("what are your opening hours"), 16000, 8000)
        wav = write_wav8k(ua.dir / "q.wav", question + bytes(8000 * 2 * 60))
        await ua.play(wav)
        await asyncio.sleep(9)
        await ua.hangup()
        await ua.wait_for("CALL_CLOSED", within=10)
        audio = ua.received_audio()
    assert "what are your opening hours" in sip.live.emulators.stt_transcripts
    assert heard_in(audio, GREETING, HOURS), "the caller should hear the greeting"
    assert heard_in(audio, HOURS, GREETING), "the caller should hear the answer"


async def _answered_call(sip: SipStack, ua, script: Script) -> None:  # type: ignore[no-untyped-def]
    sip.live.reset(script)
    await ua.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
    await ua.wait_for("CALL_ESTABLISHED", within=40)
    await asyncio.sleep(6)  # greeting


async def _call_record(sip: SipStack) -> dict:
    from agent.data.repository import Repository

    repo = await Repository.open(sip.live.database_url)
    try:
        for _ in range(50):
            calls = await repo.recent_calls(1)
            if calls and calls[0]["ended_at"]:
                events = await repo.call_events(calls[0]["call_uid"])
                return {**calls[0], "events": events}
            await asyncio.sleep(0.2)
        raise AssertionError(f"call record never finished: {calls}")
    finally:
        await repo.close()


async def test_keypad_zero_transfers_by_refer_to_the_configured_destination(sip: SipStack
                                                                             ) -> None:
    async with sip.user_agent(user="support", port=5090) as human, \
            sip.user_agent() as ua:
        await _answered_call(sip, ua, Script([reply(GREETING, when="greet the caller")]))
        await ua.send_digit("0")
        refer = await ua.wait_for("TRANSFER", within=20)
        # The REFER names the destination configured for "support" (conftest: 127.0.0.1:5090).
        assert "support@127.0.0.1:5090" in str(refer.data)
        # baresip follows the REFER: the human's phone rings and connects.
        await human.wait_for("CALL_ESTABLISHED", within=20)
    record = await _call_record(sip)
    assert record["ended_by"] == "transfer"
    assert any(e["kind"] == "transfer" for e in record["events"])


async def test_rejected_refer_is_handled_and_the_call_goes_on(sip: SipStack) -> None:
    sorry = "Sorry, nobody could take your call. Can I take a callback number?"
    script = Script([reply(GREETING, when="greet the caller"),
                     reply(sorry, when="did not go through"),
                     reply(HOURS, when="opening hours")])
    async with sip.user_agent(reject_refer=True) as ua:
        await _answered_call(sip, ua, script)
        await ua.send_digit("0")
        await asyncio.sleep(10)  # the REFER is declined; the agent apologises
        question = resample(synthesize("what are your opening hours"), 16000, 8000)
        await ua.play(write_wav8k(ua.dir / "q.wav", question + bytes(8000 * 2 * 60)))
        await asyncio.sleep(9)
        assert not any(e.type == "CALL_CLOSED" for e in ua.events), "the call must go on"
        await ua.hangup()
        await ua.wait_for("CALL_CLOSED", within=10)
        audio = ua.received_audio()
    assert heard_in(audio, sorry, GREETING, HOURS), "the caller hears the failure and an offer"
    assert heard_in(audio, HOURS, GREETING, sorry), "and the conversation continues"
    record = await _call_record(sip)
    assert any(e["kind"] == "transfer_failed" for e in record["events"])


async def test_end_call_tool_hangs_up_the_phone_leg(sip: SipStack) -> None:
    bye = "Thank you for calling. Goodbye!"
    from emulators.llm_script import tool_call

    script = Script([reply(GREETING, when="greet the caller"),
                     tool_call("end_call", {}, when="thank you goodbye"),
                     reply(bye, when=".")])
    async with sip.user_agent() as ua:
        await _answered_call(sip, ua, script)
        said = resample(synthesize("thank you goodbye"), 16000, 8000)
        await ua.play(write_wav8k(ua.dir / "bye.wav", said + bytes(8000 * 2 * 60)))
        closed = await ua.wait_for("CALL_CLOSED", within=30)  # the bridge sent BYE
        audio = ua.received_audio()
    assert closed is not None
    assert heard_in(audio, bye, GREETING), "the goodbye plays out before the hang-up"
    record = await _call_record(sip)
    assert record["ended_by"] == "agent"


async def test_caller_hang_up_ends_the_session_and_is_recorded(sip: SipStack) -> None:
    async with sip.user_agent() as ua:
        await _answered_call(sip, ua, Script([reply(GREETING, when="greet the caller")]))
        await ua.hangup()
        await ua.wait_for("CALL_CLOSED", within=10)
    record = await _call_record(sip)
    assert record["ended_by"] == "caller"
    assert record["channel"] == "sip" and record["caller_masked"] == "…1111"
    transcript = [e for e in record["events"] if e["kind"] == "transcript"]
    assert transcript and transcript[0]["role"] == "assistant"


async def test_call_from_a_disallowed_address_is_refused_without_a_room(sip: SipStack) -> None:
    async with provision._client() as lk:
        from livekit import api

        before = {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}
        # 10.213.0.2 is the namespace's veth: not in the trunk's allowed_addresses.
        async with sip.user_agent(ip="10.213.0.2") as ua:
            await ua.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
            await asyncio.sleep(8)
            await ua.hangup()
        after = {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}
    assert not any(e.type == "CALL_ESTABLISHED" for e in ua.events)
    assert {r for r in after - before if r.startswith("call-")} == set()
    # The bridge matched no trunk and dropped the INVITE without answering (it doesn't tell
    # scanners that anything is listening); its log records the refusal.
    log = sip.bridge.log_text()
    refused = [line for line in log.splitlines()
               if "SIP call ended" in line and '"reason": "flood"' in line]
    assert refused, "the bridge should record the refused call"
