"""The fault matrix, once per row, over real audio through livekit-server: a worker with a
backup for every stage, the primary failing for good, the call going on and the switch in the
call record. The LLM and TTS rows once more over a real SIP call (baresip → livekit-sip →
the same worker, on a number of its own). Timing belongs to `python -m bench.faults`, not here.

This worker runs the product's default end-of-turn detector (the offline audio model), so the
"every model down" row also covers the preemptive-generation path that once left the caller
in 9 s of silence (agent/recovery/replies.py explains the mechanism).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.recovery import lines
from bench.faults import ROWS, Row, call_events
from devstack import services as svc
from devstack.caller import TestCaller, caller_token
from emulators import ProviderEmulators
from emulators.llm_script import Script, reply, tool_call
from emulators.speech import synthesize

from .conftest import LiveStack, SipStack
from .test_conversation_audio import GREETING, HOURS, heard
from .test_resilience_audio import part, wait_for_silence
from .test_sip_calls import heard_in

AGENT = "phone-agent-failover"
QUESTION = "what are your opening hours"


@dataclass
class FailoverStack:
    live: LiveStack
    state_dir: Path
    database_url: str  # its own: a call cut off at teardown must not be another test's record

    @property
    def emu(self) -> ProviderEmulators:
        return self.live.emulators

    def reset(self) -> None:
        """Both endpoint sets healthy and scripted alike; no provider remembered as down."""
        self.live.reset()
        # The retry after a cut answer asks with the cut answer (or "say that again") last.
        turns = [reply(GREETING, when="greet the caller", repeat=True),
                 reply(HOURS, when="opening hours|say that again|^We are open", repeat=True)]
        self.emu.script = Script(list(turns))
        self.emu.backup.script = Script(list(turns))
        self.emu.backup.faults.reset()
        (self.state_dir / "provider-health.json").unlink(missing_ok=True)

    def caller(self) -> tuple[TestCaller, str]:
        room = f"fo-{uuid.uuid4().hex[:8]}"
        token = caller_token(self.live.key, self.live.secret, room, "caller", AGENT)
        return TestCaller(svc.LIVEKIT_URL, token), room

    def events(self, room: str) -> list[tuple[str, str]]:
        """The call record's events of the latest call in `room` (a LIKE pattern)."""
        return call_events(self.database_url, room)


@pytest.fixture(scope="module")
def failover(live_stack: LiveStack, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[FailoverStack]:
    state_dir = tmp_path_factory.mktemp("failover")
    database_url = f"sqlite:///{state_dir}/calls.db"
    emu = live_stack.emulators
    env = {**emu.env(), **emu.backup_env(), "AGENT_NAME": AGENT,
           "TURN_DETECTOR": os.environ.get("TEST_FAILOVER_TURN_DETECTOR", "audio"),
           "DATABASE_URL": database_url, "FAILOVER_STATE_DIR": str(state_dir),
           "LOG_LEVEL": "info",
           "AGENT_HEALTH_PORT": "0",  # the suite's worker holds 8081
           "METRICS_PORT": "0",  # and 9100 (its /metrics)
           # a summary request after a call would take the next test's scripted turns
           "CALL_SUMMARY": "off"}
    worker = svc.worker("start", env=env, name="worker-failover").start()
    try:
        worker.wait_ready()
        # The first process renders the fallback lines through the (emulated) primary voice
        # at prewarm: let it finish, or it would take the tests' TTS faults and captures.
        for _ in range(300):
            if len(list((state_dir / "voice").glob("*/*.wav"))) >= len(lines.PRERENDERED):
                break
            time.sleep(0.1)
        yield FailoverStack(live_stack, state_dir, database_url)
    finally:
        worker.stop()


async def _wait_for(predicate, within: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(within * 10)):
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def _call(fo: FailoverStack, arm_after_greeting: dict | None = None,
                arm_backup: dict | None = None) -> tuple[TestCaller, str, float]:
    caller, room = fo.caller()
    await caller.__aenter__()
    await asyncio.wait_for(caller.agent_joined.wait(), 30)
    greeting = await caller.wait_for_speech(after=0.0, within=30)
    await caller.wait_until_quiet(greeting)
    if arm_after_greeting:
        fo.emu.faults.update(arm_after_greeting)
    if arm_backup:
        fo.emu.backup.faults.update(arm_backup)
    end = await caller.say(synthesize(QUESTION))
    return caller, room, end


PROVIDER_ROWS = [r for r in ROWS if not r.malformed_tool_call]


@pytest.mark.parametrize("row", PROVIDER_ROWS, ids=[r.name for r in PROVIDER_ROWS])
async def test_primary_down_the_backup_answers_and_the_switch_is_recorded(
        failover: FailoverStack, row: Row) -> None:
    fo = failover
    fo.reset()
    if not row.mid_call:
        fo.emu.faults.update(row.knobs)
    backup = fo.emu.backup
    used_before = {"stt": len(backup.stt_transcripts), "llm": len(backup.llm_requests),
                   "tts": len(backup.tts_texts)}
    tts_before = (len(fo.emu.tts_texts), len(backup.tts_texts))
    caller, room, end = await _call(fo, row.knobs if row.mid_call else None)
    try:
        await caller.wait_for_speech(after=end, within=25)
        await wait_for_silence(caller, quiet_s=2.5)
        spoken = caller.speech_after(end)
        # The call went on: the question was answered (after a "say that again" when the
        # primary broke mid-answer), by the backup where the primary's stage was needed.
        # A "say that again" and the answer can run together into one burst: then the
        # answer is what the voice was given after the question, and audio followed it.
        voiced = [*fo.emu.tts_texts[tts_before[0]:], *backup.tts_texts[tts_before[1]:]]
        assert any(heard(b, HOURS, GREETING, lines.SAY_AGAIN, lines.HOLD) == HOURS
                   for b in spoken) or (HOURS in voiced and sum(
                       b.duration for b in spoken) > 3.0), \
            f"{row.name}: the caller never heard the answer ({voiced})"
        assert await _wait_for(lambda: any(
            k == "provider_fallback" and d.startswith(f"{row.stage}:")
            for k, d in fo.events(room))
        ), f"{row.name}: no {row.stage} fallback in the call record: {fo.events(room)}"
        used = {"stt": len(backup.stt_transcripts), "llm": len(backup.llm_requests),
                "tts": len(backup.tts_texts)}
        assert used[row.stage] > used_before[row.stage], f"{row.name}: backup never used"
    finally:
        await caller.__aexit__(None, None, None)


async def test_malformed_tool_call_is_answered(failover: FailoverStack) -> None:
    """A tool call whose arguments are not JSON: the tool error goes back to the model,
    and the caller gets an answer (no provider is at fault, nothing fails over)."""
    fo = failover
    fo.reset()
    fo.emu.script = Script([reply(GREETING, when="greet the caller", repeat=True),
                            tool_call("list_available_slots", '{"date": "tomorr',
                                      when="opening hours"),
                            reply(HOURS, when=".", repeat=True)])
    backup_before = len(fo.emu.backup.llm_requests)
    caller, _, end = await _call(fo)
    try:
        await caller.wait_for_speech(after=end, within=25)
        await wait_for_silence(caller, quiet_s=2.5)
        assert any(heard(b, HOURS, GREETING, lines.DIDNT_GET_THAT) == HOURS
                   for b in caller.speech_after(end))
        tool_outputs = [m for r in fo.emu.llm_requests for m in r["messages"]
                        if m.get("role") == "tool"]
        assert tool_outputs, "the argument error should have gone back to the model"
        assert len(fo.emu.backup.llm_requests) == backup_before  # not a provider failure
    finally:
        await caller.__aexit__(None, None, None)


async def test_every_model_down_hold_line_retry_then_handover(failover: FailoverStack
                                                             ) -> None:
    """Primary and backup LLM both refuse: the caller hears the hold line right after the
    turn (not 9 s of silence, whatever the turn detector), one retry, then the handover —
    for a browser caller without a keypad, a goodbye — and the record says so."""
    fo = failover
    fo.reset()
    down = {"llm_error_status": 503, "llm_error_count": 99}
    caller, room, end = await _call(fo, down, down)
    try:
        await caller.wait_for_speech(after=end, within=20)  # timing: bench.faults
        await _wait_for(lambda: any(k == "handover" for k, _ in fo.events(room)), 30)
        await wait_for_silence(caller, quiet_s=2.5)  # the goodbye
        kinds = [k for k, _ in fo.events(room)]
        assert "reply_retried" in kinds and "handover" in kinds, kinds
        # The goodbye may follow the apology within the caller's burst gap (the handover
        # cuts a line still playing): the first sound opens with one, the last ends with the
        # other.
        spoken = caller.speech_after(end)
        assert heard(part(spoken[0], lines.TROUBLE), lines.TROUBLE, lines.CALL_AGAIN, HOURS,
                     GREETING) == lines.TROUBLE
        assert heard(part(spoken[-1], lines.CALL_AGAIN, last=True), lines.CALL_AGAIN,
                     lines.TROUBLE, HOURS, GREETING) == lines.CALL_AGAIN
    finally:
        await caller.__aexit__(None, None, None)


# --- the LLM and TTS rows over a real SIP call ------------------------------------------------

FAILOVER_NUMBER = "+15550100200"  # dialled at the bridge; a trunk and rule of its own
# One LLM and one TTS row by default (the suite's time budget; every row runs over a room
# above, and `bench.faults` measures every LLM and TTS row over SIP): the 5xx that once left
# a SIP caller in 9 s of silence, and the voice failing mid-sentence.
# TEST_FAILOVER_SIP_ROWS=all runs every LLM and TTS row over SIP.
SIP_ROWS = [r for r in PROVIDER_ROWS if r.stage in ("llm", "tts") and (
    os.environ.get("TEST_FAILOVER_SIP_ROWS") == "all"
    or r.name in ("llm_5xx", "tts_closed_mid_sentence"))]


@pytest.fixture(scope="module")
def failover_sip(failover: FailoverStack, sip_stack: SipStack) -> Iterator[SipStack]:
    """An inbound trunk for FAILOVER_NUMBER whose dispatch rule sends its calls to the
    failover worker (rooms `fo-sip-…`), beside the suite's own trunk and rule."""
    from livekit import api

    from sip import provision

    async def create() -> tuple[str, str]:
        async with provision._client() as lk:
            trunk = await lk.sip.create_inbound_trunk(api.CreateSIPInboundTrunkRequest(
                trunk=api.SIPInboundTrunkInfo(name="phone-agent-failover-test",
                                              numbers=[FAILOVER_NUMBER],
                                              allowed_addresses=["127.0.0.1/32"])))
            rule = await lk.sip.create_dispatch_rule(api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    name="phone-agent-failover-test", trunk_ids=[trunk.sip_trunk_id],
                    rule=api.SIPDispatchRule(dispatch_rule_individual=api.
                                             SIPDispatchRuleIndividual(room_prefix="fo-sip-")),
                    room_config=api.RoomConfiguration(agents=[
                        api.RoomAgentDispatch(agent_name=AGENT)]))))
            return trunk.sip_trunk_id, rule.sip_dispatch_rule_id

    async def remove(trunk_id: str, rule_id: str) -> None:
        async with provision._client() as lk:
            await lk.sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id))
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))

    trunk_id, rule_id = asyncio.run(create())
    try:
        yield sip_stack
    finally:
        asyncio.run(remove(trunk_id, rule_id))


@pytest.mark.parametrize("row", SIP_ROWS, ids=[r.name for r in SIP_ROWS])
async def test_over_sip_the_backup_answers_and_the_switch_is_recorded(
        failover: FailoverStack, failover_sip: SipStack, row: Row) -> None:
    from devstack.baresip import write_wav8k
    from emulators.speech import resample

    fo = failover
    fo.reset()
    if not row.mid_call:
        fo.emu.faults.update(row.knobs)
    backup = fo.emu.backup
    used_before = {"llm": len(backup.llm_requests), "tts": len(backup.tts_texts)}
    distractors = (GREETING, lines.SAY_AGAIN, lines.HOLD)
    async with failover_sip.user_agent() as ua:
        await ua.dial(f"sip:{FAILOVER_NUMBER}@127.0.0.1:5060")
        await ua.wait_for("CALL_ESTABLISHED", within=40)
        assert await ua.wait_until_heard(lambda pcm: heard_in(pcm, GREETING, HOURS),
                                         within=40), f"{row.name}: no greeting"
        await asyncio.sleep(1.0)  # its last words
        if row.mid_call:
            fo.emu.faults.update(row.knobs)
        voiced_before = (len(fo.emu.tts_texts), len(backup.tts_texts))
        question = resample(synthesize(QUESTION), 16000, 8000)
        await ua.play(write_wav8k(ua.dir / "q.wav", question + bytes(8000 * 2 * 60)))
        answered = await ua.wait_until_heard(
            lambda pcm: heard_in(pcm, HOURS, *distractors), within=40)
        # A "say that again" may run into the answer: then it is what the voice was given.
        voiced = [*fo.emu.tts_texts[voiced_before[0]:], *backup.tts_texts[voiced_before[1]:]]
        assert not any(e.type == "CALL_CLOSED" for e in ua.events), "the call must go on"
        await ua.hangup()
        await ua.wait_for("CALL_CLOSED", within=10)
    assert answered or HOURS in voiced, f"{row.name}: the caller never got the answer ({voiced})"
    assert await _wait_for(lambda: any(
        k == "provider_fallback" and d.startswith(f"{row.stage}:")
        for k, d in fo.events("fo-sip-%"))
    ), f"{row.name}: no {row.stage} fallback in the call record: {fo.events('fo-sip-%')}"
    used = {"llm": len(backup.llm_requests), "tts": len(backup.tts_texts)}
    assert used[row.stage] > used_before[row.stage], f"{row.name}: backup never used"
