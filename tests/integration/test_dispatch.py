"""The worker registers with the real livekit-server and is dispatched by name."""

from __future__ import annotations

import asyncio
import uuid

from livekit import api, rtc

from devstack import services as svc
from devstack.caller import TestCaller

from .conftest import LiveStack


async def test_worker_registered_with_its_agent_name(stack: LiveStack) -> None:
    log = stack.worker.log_text()
    assert "registered worker" in log
    assert '"agent_name": "phone-agent-test"' in log


async def test_participant_joining_gets_the_agent_dispatched_by_name(stack: LiveStack) -> None:
    async with stack.caller() as caller:
        await asyncio.wait_for(caller.agent_joined.wait(), 30)
        agent = caller.room.remote_participants[caller.agent_identity or ""]
        assert agent.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        # The agent publishes its voice track for the caller.
        for _ in range(100):
            if any(p.kind == rtc.TrackKind.KIND_AUDIO for p in agent.track_publications.values()):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("agent joined but published no audio track")


async def test_room_without_dispatch_gets_no_agent(stack: LiveStack) -> None:
    """A named worker takes explicit dispatches only: a plain token brings no agent."""
    room = f"nodispatch-{uuid.uuid4().hex[:6]}"
    token = (api.AccessToken(stack.key, stack.secret).with_identity("lonely")
             .with_grants(api.VideoGrants(room_join=True, room=room)).to_jwt())
    async with TestCaller(svc.LIVEKIT_URL, token) as caller:
        try:
            await asyncio.wait_for(caller.agent_joined.wait(), 5)
        except TimeoutError:
            pass
        assert not caller.agent_joined.is_set()
