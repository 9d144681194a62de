"""Issue 9 over real SIP: a PIN typed on the phone's keypad verifies the caller while the digits
stay in the worker: the model, the transcript and the call record never see them."""

from __future__ import annotations

import asyncio
import json

from agent.data.repository import Repository
from agent.data.seed import seed
from emulators.llm_script import Script, reply, tool_call

from .conftest import SipStack
from .test_sip_calls import GREETING, _answered_call, _call_record, heard_in

MARIA = "+14155550142"  # a seeded customer whose PIN is 2468
VERIFIED = "Thank you Maria, you are verified. How can I help?"


async def test_a_keypad_pin_verifies_without_the_digits_leaving_the_worker(
        sip: SipStack) -> None:
    repo = await Repository.open(sip.live.database_url)
    try:
        await seed(repo)  # idempotent: the suite's database gets the demo customers
    finally:
        await repo.close()
    script = Script([reply(GREETING, when="greet the caller"),
                     tool_call("verify_identity", {}, when="typed their PIN"),
                     reply(VERIFIED, when="^Verified")])
    async with sip.user_agent(user=MARIA) as ua:
        await _answered_call(sip, ua, script)
        for digit in "2468#":
            await ua.send_digit(digit)
            await asyncio.sleep(0.3)
        await asyncio.sleep(10)  # the entry, the tool, the answer
        await ua.hangup()
        await ua.wait_for("CALL_CLOSED", within=10)
        audio = ua.received_audio()
    assert heard_in(audio, VERIFIED, GREETING), "the keypad PIN verified the caller"
    sent = json.dumps(sip.live.emulators.llm_requests)
    assert "typed their PIN" in sent
    assert "2468" not in sent and "2 4 6 8" not in sent
    record = await _call_record(sip)
    assert record["caller_masked"] == "…0142"
    text = json.dumps(record["events"])
    assert "2468" not in text and "2 4 6 8" not in text
    repo = await Repository.open(sip.live.database_url)
    try:
        audit = await repo.audit_entries(tool="verify_identity")
    finally:
        await repo.close()
    assert audit and audit[-1].outcome == "ok"
