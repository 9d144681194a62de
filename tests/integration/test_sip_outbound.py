"""Outbound calls over real SIP: `python -m agent.telephony.outbound` → dispatch → the worker dials
through the outbound trunk (127.0.0.1:5090) → a baresip / sipp user agent there."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from agent.telephony.outbound import voicemail_message
from devstack.baresip import write_wav8k
from emulators.llm_script import Script, reply, tool_call
from emulators.speech import resample, synthesize

from .conftest import AGENT_NAME, PHRASES, ROOT, SipStack
from .test_sip_calls import heard_in

CALLEE = "+15550107777"
PURPOSE = "appointment reminder"
OPENING = ("Hi, this is the Northwind assistant calling about your appointment reminder. "
           "Is now a good time?")
HELLO = "hello who is this"
VOICEMAIL_GREETING = "you have reached the voicemail of john please leave a message after the tone"

BUSY_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy here">
  <recv request="INVITE" />
  <send>
    <![CDATA[

      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />
</scenario>
"""


async def outbound_command(sip: SipStack, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": sip.live.database_url, "AGENT_NAME": AGENT_NAME}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.telephony.outbound", "--to", CALLEE, "--purpose", PURPOSE,
        "--wait", "--timeout", "90", *args,
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def result_of(proc: asyncio.subprocess.Process, within: float = 60) -> dict:
    out, err = await asyncio.wait_for(proc.communicate(), within)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert lines and lines[0]["status"] == "dispatched", (out, err)
    assert lines[-1]["status"] == "done", (out, err)
    return {**lines[-1], "returncode": proc.returncode}


async def events_of(sip: SipStack, call_uid: str) -> list[dict]:
    from agent.data.repository import Repository

    repo = await Repository.open(sip.live.database_url)
    try:
        return await repo.call_events(call_uid)
    finally:
        await repo.close()


def said(ua_dir: Path, text: str, name: str) -> Path:
    pcm = resample(synthesize(text), 16000, 8000)
    return write_wav8k(ua_dir / name, bytes(8000 * 2 // 2) + pcm + bytes(8000 * 2 * 60))


async def test_outbound_call_answered_hears_the_purpose_opening(sip: SipStack) -> None:
    sip.live.reset(Script([
        # answering-machine detection classifies the callee's first words with the LLM
        tool_call("save_prediction", {"label": "human"}, when=f"^{HELLO}$"),
        reply(OPENING, when=PURPOSE),
    ]))
    sip.live.emulators.set_stt_phrases([*PHRASES, HELLO, VOICEMAIL_GREETING])
    async with sip.user_agent(user=CALLEE, port=5090) as callee:
        proc = await outbound_command(sip)
        await callee.wait_for("CALL_ESTABLISHED", within=40)
        await callee.play(said(callee.dir, HELLO, "hello.wav"))
        # "hello" → AMD says human → the opening (bounded wait; slower on a loaded machine)
        await callee.wait_until_heard(lambda pcm: heard_in(pcm, OPENING), within=40)
        await callee.hangup()
        await callee.wait_for("CALL_CLOSED", within=10)
        audio = callee.received_audio()
        result = await result_of(proc)
    assert heard_in(audio, OPENING), "the callee hears the purpose-specific opening"
    assert result["outcome"] == "answered", result
    assert result["ended_by"] == "caller" and result["returncode"] == 0, result
    events = await events_of(sip, result["call_uid"])
    assert any(e["kind"] == "outbound" and e["detail"].startswith("answered")
               for e in events), events


async def test_outbound_call_to_a_busy_line_is_reported_busy(sip: SipStack,
                                                             tmp_path: Path) -> None:
    scenario = tmp_path / "busy.xml"
    scenario.write_text(BUSY_SCENARIO)
    sipp = subprocess.Popen(  # noqa: ASYNC220 - a short-lived UAS that answers one INVITE
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", "5090", "-m", "1",
         "-nostdin", "-timeout", "60s"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = await result_of(await outbound_command(sip))
    finally:
        sipp.kill()
        sipp.wait(5)
    assert result["outcome"] == "busy", result
    assert result["ended_by"] == "busy" and result["returncode"] == 3, result
    assert "486" in result["detail"], result


async def test_outbound_call_nobody_answers_is_reported_no_answer(sip: SipStack) -> None:
    async with sip.user_agent(user=CALLEE, port=5090, answer=False) as callee:
        proc = await outbound_command(sip)
        result = await result_of(proc, within=60)
        rang = [e.type for e in callee.events]
    assert result["outcome"] == "no_answer", result
    assert result["ended_by"] == "no_answer" and result["returncode"] == 3, result
    assert "CALL_INCOMING" in rang, rang  # it really rang, then the agent gave up
    assert not any(e == "CALL_ESTABLISHED" for e in rang)


async def test_outbound_call_to_voicemail_leaves_a_message(sip: SipStack) -> None:
    sip.live.reset(Script([
        tool_call("save_prediction", {"label": "machine-vm"}, when="leave a message",
                  repeat=True),
    ]))
    sip.live.emulators.set_stt_phrases([*PHRASES, HELLO, VOICEMAIL_GREETING])
    async with sip.user_agent(user=CALLEE, port=5090) as callee:
        proc = await outbound_command(sip)
        await callee.wait_for("CALL_ESTABLISHED", within=40)
        await callee.play(said(callee.dir, VOICEMAIL_GREETING, "vm.wav"))
        closed = await callee.wait_for("CALL_CLOSED", within=45)  # message, then hang-up
        audio = callee.received_audio()
        result = await result_of(proc)
    assert closed is not None
    assert heard_in(audio, voicemail_message(PURPOSE), OPENING), "the message was left"
    assert result["outcome"] == "voicemail", result
    assert result["ended_by"] == "voicemail", result
