"""The hand-over note for a warm transfer, and the track only the colleague hears it on."""

from __future__ import annotations

import asyncio
import logging
import re

from livekit import rtc
from livekit.agents import llm, tts

from ..speech_text import normalize_for_speech

logger = logging.getLogger("phone-agent.warm_transfer")

SUMMARY_PROMPT = (
    "Write the hand-over note you will say to a colleague who is about to take over this "
    "phone call. Two short spoken sentences: who is calling (no phone numbers, no account "
    "details) and what they need. Start with 'Hello, I have a caller'. Plain words only."
)
SUMMARY_TIMEOUT_S = 6.0


def redact_digits(text: str) -> str:
    """No numbers in the briefing: phone numbers, PINs and account numbers stay out."""
    return re.sub(r"\d[\d\s-]{2,}\d", "[number]", text)


def fallback_summary(history: list[tuple[str, str]], department: str) -> str:
    """Deterministic hand-over note when the LLM can't write one in time."""
    said = [text for role, text in history if role == "user" and text.strip()]
    last = said[-1].strip().rstrip(".?!") if said else ""
    note = f"Hello, I have a caller for {department}."
    if last:
        note += f" They said: {redact_digits(last)[:160]}."
    return note


def chat_history(chat_ctx: llm.ChatContext) -> list[tuple[str, str]]:
    return [(item.role, item.text_content or "") for item in chat_ctx.items
            if isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant")
            and item.text_content]


async def write_summary(model: llm.LLM | None, history: list[tuple[str, str]],
                        department: str) -> str:
    """An LLM-written hand-over note from the conversation, or the deterministic fallback."""
    if model is None or not history:
        return fallback_summary(history, department)
    transcript = "\n".join(f"{'Caller' if r == 'user' else 'Assistant'}: {t}"
                           for r, t in history[-20:])
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You summarise phone calls for colleagues.")
    ctx.add_message(role="user", content=f"Conversation so far:\n{transcript}\n\n"
                                         f"Department: {department}.\n{SUMMARY_PROMPT}")
    text = ""
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT_S):
            async with model.chat(chat_ctx=ctx) as stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        text += chunk.delta.content
    except Exception as e:
        logger.warning("summary generation failed; using the fallback: %s", e)
        return fallback_summary(history, department)
    text = redact_digits(" ".join(text.split()))
    return text[:400] or fallback_summary(history, department)


class BriefingTrack:
    """A separate audio track for briefing the human, synthesized with the session's TTS."""

    def __init__(self, room: rtc.Room, speech: tts.TTS, source: rtc.AudioSource,
                 publication: rtc.LocalTrackPublication) -> None:
        self._room, self._tts, self._source, self._pub = room, speech, source, publication

    @classmethod
    async def publish(cls, room: rtc.Room, speech: tts.TTS) -> BriefingTrack:
        source = rtc.AudioSource(speech.sample_rate, speech.num_channels)
        track = rtc.LocalAudioTrack.create_audio_track("briefing", source)
        pub = await room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        return cls(room, speech, source, pub)

    @property
    def sid(self) -> str:
        return self._pub.sid

    async def speak(self, text: str) -> None:
        async with self._tts.synthesize(normalize_for_speech(text)) as stream:
            async for ev in stream:
                await self._source.capture_frame(ev.frame)
        await self._source.wait_for_playout()

    async def aclose(self) -> None:
        try:
            await self._room.local_participant.unpublish_track(self._pub.sid)
        except Exception as e:  # already gone with the room
            logger.debug("briefing track unpublish failed: %s", e)
        await self._source.aclose()
