"""Warm transfer on the self-hosted stack: the caller (baresip) asks for a person, the agent
puts them on hold, dials the human (baresip on 127.0.0.1:5090, the outbound trunk) into the
same room, briefs them, connects the two and leaves."""

from __future__ import annotations

import asyncio

from livekit import api

from agent.telephony.warm_transfer import HOLD_SENTENCE
from emulators.llm_script import Script, reply, tool_call
from sip import provision

from .conftest import HUMAN_NUMBER, OUR_NUMBER, PHRASES, SipStack
from .test_sip_calls import GREETING, heard_in
from .test_sip_outbound import said

ASK = "can i talk to a person please"
BRIEF = "Hello, I have a caller who would like to talk to someone in support."
SORRY = "Sorry, nobody is available right now. Can I take a callback number for you?"
DURING_HOLD = "where is my order"
CALLER_AFTER = "what are your opening hours"
HUMAN_AFTER = "thank you goodbye"
ALL = [GREETING, HOLD_SENTENCE, BRIEF, SORRY, DURING_HOLD, CALLER_AFTER, HUMAN_AFTER]


def heard(pcm: bytes, phrase: str) -> bool:
    return heard_in(pcm, phrase, *[p for p in ALL if p != phrase])


async def _agent_left(room_prefix: str = "call-", within: float = 60) -> str:
    """Wait until the call room has only SIP participants left; returns the room name."""
    async with provision._client() as lk:
        for _ in range(int(within * 2)):
            rooms = [r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
                     if r.name.startswith(room_prefix)]
            for name in rooms:
                ps = (await lk.room.list_participants(
                    api.ListParticipantsRequest(room=name))).participants
                kinds = {p.kind for p in ps}
                if len(ps) >= 2 and kinds == {api.ParticipantInfo.Kind.SIP}:
                    return name
            await asyncio.sleep(0.5)
    raise AssertionError("the agent never left the call room")


async def _events(sip: SipStack) -> list[dict]:
    from agent.data.repository import Repository

    repo = await Repository.open(sip.live.database_url)
    try:
        call = (await repo.recent_calls(1))[0]
        return await repo.call_events(call["call_uid"])
    finally:
        await repo.close()


def _script(*extra) -> Script:  # type: ignore[no-untyped-def]
    return Script([reply(GREETING, when="greet the caller"),
                   tool_call("warm_transfer_to_human", {"department": "support"},
                             when="talk to a person"),
                   reply(BRIEF, when="hand-over note"), *extra])


async def test_warm_transfer_briefs_the_human_then_connects_caller_and_human(sip: SipStack
                                                                            ) -> None:
    sip.live.reset(_script())
    sip.live.emulators.set_stt_phrases([*PHRASES, ASK])
    async with sip.user_agent(user=HUMAN_NUMBER, port=5090) as human, \
            sip.user_agent() as caller:
        await caller.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
        await caller.wait_for("CALL_ESTABLISHED", within=40)
        await asyncio.sleep(6)  # the greeting
        await caller.play(said(caller.dir, ASK, "ask.wav"))
        # The agent puts the caller on hold and dials the human into the same room.
        await human.wait_for("CALL_ESTABLISHED", within=40)
        # While the human is being briefed the caller speaks: the human must not hear it.
        await caller.play(said(caller.dir, DURING_HOLD, "hold.wav"))
        room = await _agent_left()
        await asyncio.sleep(1.5)
        # Connected: each side now hears the other.
        await caller.play(said(caller.dir, CALLER_AFTER, "after.wav"))
        await human.play(said(human.dir, HUMAN_AFTER, "human.wav"))
        await asyncio.sleep(8)
        assert not any(e.type == "CALL_CLOSED" for e in caller.events + human.events), \
            "the call goes on between caller and human after the agent left"
        async with provision._client() as lk:
            left = (await lk.room.list_participants(
                api.ListParticipantsRequest(room=room))).participants
        await caller.hangup()
        await human.hangup()
        await caller.wait_for("CALL_CLOSED", within=10)
        await human.wait_for("CALL_CLOSED", within=10)
        human_audio, caller_audio = human.received_audio(), caller.received_audio()
    assert len(left) == 2 and all(p.kind == api.ParticipantInfo.Kind.SIP for p in left)
    assert heard(caller_audio, HOLD_SENTENCE), "the caller is told to hold"
    assert heard(human_audio, BRIEF), "the human hears the briefing"
    assert not heard(caller_audio, BRIEF), "the caller does not hear the briefing"
    assert not heard(human_audio, DURING_HOLD), "the human does not hear the caller on hold"
    assert heard(human_audio, CALLER_AFTER), "after connecting, caller → human audio flows"
    assert heard(caller_audio, HUMAN_AFTER), "and human → caller audio flows"
    kinds = [e["kind"] for e in await _events(sip)]
    assert "warm_transfer" in kinds, kinds


async def test_warm_transfer_nobody_answers_back_to_caller_with_callback_offer(sip: SipStack
                                                                              ) -> None:
    sip.live.reset(_script(reply(SORRY, when="no colleague answered")))
    sip.live.emulators.set_stt_phrases([*PHRASES, ASK])
    async with sip.user_agent(user=HUMAN_NUMBER, port=5090, answer=False) as human, \
            sip.user_agent() as caller:
        await caller.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
        await caller.wait_for("CALL_ESTABLISHED", within=40)
        await asyncio.sleep(6)
        await caller.play(said(caller.dir, ASK, "ask.wav"))
        await human.wait_for("CALL_INCOMING", within=30)  # it rings ...
        # ... the 8 s ringing timeout, then the agent is back (bounded wait)
        got = await caller.wait_until_heard(lambda pcm: heard(pcm, SORRY), within=45)
        emu = sip.live.emulators
        assert got, f"no apology heard; the agent said {emu.tts_texts[-3:]}"
        assert not any(e.type == "CALL_CLOSED" for e in caller.events), "the call goes on"
        await caller.hangup()
        await caller.wait_for("CALL_CLOSED", within=10)
        caller_audio = caller.received_audio()
    assert heard(caller_audio, HOLD_SENTENCE)
    assert heard(caller_audio, SORRY), "the caller hears nobody is available + callback offer"
    kinds = [e["kind"] for e in await _events(sip)]
    assert "warm_transfer_failed" in kinds, kinds
