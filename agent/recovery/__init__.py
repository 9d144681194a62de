"""What the caller hears when a provider fails, so no turn ends in silence.

    replies.py   every reply checked when done: retry, a fixed line, or the handover; the
                 watchdog's hold line while a reply is slow
    hearing.py   speech without a transcript: fail over, reconnect, ask again, the keypad
    handover.py  a stage down: a human, else a callback offer on the keypad, else goodbye
    voice.py     the fixed lines pre-rendered (primary voice at prewarm, or bundled) and the
                 recovery track they can play on
    lines.py     the lines themselves

Provider failover itself (backups, health shared across calls) is agent/providers/failover.py;
this package decides what to say and do on top of it. `CallRecovery` wires it into a call.
"""

from __future__ import annotations

from collections.abc import Callable

from livekit import rtc
from livekit.agents import AgentSession

from ..call_state import CallState
from ..data.repository import RepoSource
from ..providers import CallProviders
from ..telephony.cold_transfer import TransferOutcome
from ..telephony.destinations import TransferPlan
from .handover import Handover
from .hearing import TRANSCRIPT_TIMEOUT_S, HearingGuard
from .replies import ReplyGuard
from .voice import PrerenderedVoice, RecoveryTrack, render_in_background

__all__ = ["TRANSCRIPT_TIMEOUT_S", "CallRecovery", "PrerenderedVoice", "render_in_background"]


class CallRecovery:
    def __init__(self, session: AgentSession[CallState], state: CallState, *,
                 providers: CallProviders, voice: PrerenderedVoice, plan: TransferPlan,
                 repo: RepoSource, on_event: Callable[[str, str], None],
                 on_transfer: Callable[[TransferOutcome], None], max_tool_steps: int) -> None:
        self.handover = Handover(session, state, plan=plan, voice=voice, repo=repo,
                                 on_event=on_event, on_transfer=on_transfer)
        self.replies = ReplyGuard(session, state, voice=voice, handover=self.handover,
                                  on_event=on_event, max_tool_steps=max_tool_steps)
        self.hearing = HearingGuard(session, state, providers=providers,
                                    handover=self.handover, on_event=on_event)
        self._track: RecoveryTrack | None = None

    def attach(self, room: rtc.Room) -> None:
        self._track = RecoveryTrack(room)
        self.replies.attach(self._track)
        self.hearing.attach()

    def on_provider_change(self, kind: str, stage: str) -> None:
        if stage == "tts" and kind == "provider_fallback":
            self.replies.voice_switched()

    def take_digit(self, digit: str) -> bool:
        """A keypad digit: True when recovery consumed it (the callback offer)."""
        if self.handover.on_digit(digit):
            return True
        self.hearing.on_digit()
        return False

    async def aclose(self) -> None:
        if self._track is not None:
            await self._track.aclose()
