"""Who hears whom during a warm transfer, controlled on the server (see warm_transfer.py)."""

from __future__ import annotations

import asyncio
import logging

from livekit import api, rtc

logger = logging.getLogger("phone-agent.warm_transfer")


class AudioIsolation:
    """Server-side control of who hears whom while the caller is on hold."""

    def __init__(self, lk: api.LiveKitAPI, room: rtc.Room, caller: str, human: str) -> None:
        self.lk = lk
        self.room = room
        self.caller = caller
        self.human = human

    def _audio_sids(self, identity: str) -> list[str]:
        p = self.room.remote_participants.get(identity)
        if p is None:
            return []
        return [sid for sid, pub in p.track_publications.items()
                if pub.kind == rtc.TrackKind.KIND_AUDIO]

    async def _subscribe(self, who: str, to: str, subscribe: bool) -> None:
        sids = self._audio_sids(to)
        if not sids or who not in self.room.remote_participants:
            return
        try:
            await self.lk.room.update_subscriptions(api.UpdateSubscriptionsRequest(
                room=self.room.name, identity=who, track_sids=sids, subscribe=subscribe))
        except Exception as e:  # the participant just left, ...
            logger.warning("update_subscriptions failed", extra={"who": who, "to": to,
                                                                 "error": str(e)})

    async def separate(self) -> None:
        await asyncio.gather(self._subscribe(self.caller, self.human, False),
                             self._subscribe(self.human, self.caller, False))

    async def join(self) -> None:
        await asyncio.gather(self._subscribe(self.caller, self.human, True),
                             self._subscribe(self.human, self.caller, True))

    def agent_tracks_for(self, *, caller_sids: list[str], human_sids: list[str]) -> None:
        """Limit the agent's own tracks: caller hears `caller_sids`, human `human_sids`."""
        self.room.local_participant.set_track_subscription_permissions(
            allow_all_participants=False,
            participant_permissions=[
                rtc.ParticipantTrackPermission(participant_identity=self.caller,
                                               allow_all=False, allowed_track_sids=caller_sids),
                rtc.ParticipantTrackPermission(participant_identity=self.human,
                                               allow_all=False, allowed_track_sids=human_sids),
            ])

    async def refresh_caller(self) -> None:
        """Re-subscribe the caller to the agent's own audio after the human's track is gone.

        livekit-sip v1.8.0 stops delivering room audio to a caller once one of the caller's
        subscriptions closes mid-call (here: the unanswered human's track); a fresh
        subscription restarts it (measured in tests/integration/test_sip_warm_transfer.py).
        """
        me = self.room.local_participant
        sids = [sid for sid, pub in me.track_publications.items()
                if pub.kind == rtc.TrackKind.KIND_AUDIO]
        if not sids or self.caller not in self.room.remote_participants:
            return
        for subscribe in (False, True):
            try:
                await self.lk.room.update_subscriptions(api.UpdateSubscriptionsRequest(
                    room=self.room.name, identity=self.caller, track_sids=sids,
                    subscribe=subscribe))
            except Exception as e:
                logger.warning("could not refresh the caller's audio", extra={"error": str(e)})
                return
            await asyncio.sleep(0.2)

    def agent_tracks_for_all(self) -> None:
        self.room.local_participant.set_track_subscription_permissions(
            allow_all_participants=True)
