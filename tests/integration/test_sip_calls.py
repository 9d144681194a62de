"""Phone calls over real SIP: baresip → livekit-sip → livekit-server → the agent worker."""

from __future__ import annotations

import asyncio

from sip import provision
from tests.emulators.llm_script import Script, reply
from tests.emulators.recognizer import get_recognizer
from tests.emulators.speech import resample, synthesize
from tests.support.baresip import write_wav8k

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
