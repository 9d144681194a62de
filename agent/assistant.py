"""The phone assistant: instructions, greeting, and the tools it may propose."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterable, Sequence

from livekit import rtc
from livekit.agents import Agent, ModelSettings, llm, stt
from livekit.agents.voice import SpeechHandle

from . import prompts
from .call_state import CallState
from .recording.consent import RecordingConsent
from .telephony.end_call import make_end_call_tool
from .tools import BUSINESS_TOOLS

logger = logging.getLogger("phone-agent.assistant")


# Listener feedback ("mm hmm", "uh huh", "okay") said while the agent talks. Deepgram transcribes
# these (filler_words=true), and the session would treat the transcript as a new turn: it cuts
# the answer and replies to "mm hmm". Dropped only while a reply is in progress (playing, or
# paused by the caller's voice); once the agent has finished, "mm hmm" is an answer and passes.
BACKCHANNEL_WORDS = frozenset({
    "mm", "mmm", "hmm", "mhm", "mmhmm", "mhmm", "uh", "huh", "um", "ah", "oh", "uhhuh",
    "yeah", "yep", "yup", "okay", "ok", "right", "sure", "alright", "i", "see", "got", "it",
})
_BACKCHANNEL_PHRASES = frozenset({"i see", "got it", "uh huh", "mm hmm", "all right"})
_MAX_BACKCHANNEL_WORDS = 3


def is_backchannel(text: str) -> bool:
    """True for short listener feedback such as "mm hmm", "uh-huh", "okay", "I see"."""
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    if not words or len(words) > _MAX_BACKCHANNEL_WORDS:
        return False
    joined = " ".join(words)
    if joined in _BACKCHANNEL_PHRASES:
        return True
    # "i", "see", "got", "it" only count inside the phrases above.
    return all(w in BACKCHANNEL_WORDS and w not in {"i", "see", "got", "it"} for w in words)


class PhoneAssistant(Agent):
    """Answers the phone for the business; every action goes through a backend-checked tool."""

    def __init__(
        self,
        *,
        state: CallState | None = None,
        call_tools: Sequence[llm.FunctionTool | llm.RawFunctionTool] = (),
        extra_instructions: str = "",
        chat_ctx: llm.ChatContext | None = None,
        recording: RecordingConsent | None = None,
    ) -> None:
        """`call_tools`: the telephony tools of this call (transfers; none for a browser
        caller), built by agent/call.py;
        `extra_instructions`: appended to the prompt (an outbound call's purpose);
        `recording`: the call's recording consent, whose notice opens the call."""
        self._state = state
        self._recording = recording
        instructions = prompts.instructions(state.caller if state is not None else None)
        if state is not None:
            instructions += "\n" + prompts.caller_context(state.caller)
            if state.services is not None:
                repo = state.services.repo
                instructions += "\n" + prompts.business_now(repo.clock(), str(repo.timezone))
            if state.records_unavailable:
                instructions += "\n" + prompts.records_unavailable(state.caller)[0]
        if recording is not None and recording.instructions:
            instructions += "\n" + recording.instructions
        if extra_instructions:
            instructions += "\n" + extra_instructions
        super().__init__(
            instructions=instructions,
            tools=[
                *BUSINESS_TOOLS,
                *call_tools,
                make_end_call_tool(lambda: self._state),
            ],
            chat_ctx=chat_ctx,
        )

    async def stt_node(self, audio: AsyncIterable[rtc.AudioFrame],
                       model_settings: ModelSettings) -> AsyncIterable[stt.SpeechEvent]:
        """The plugin's transcripts, minus backchannels spoken over a reply in progress.

        Without the transcript, the caller's voice is a false interruption: the answer pauses
        and resumes after `false_interruption_timeout` (providers.turn_handling)."""
        async for ev in Agent.default.stt_node(self, audio, model_settings):
            if (
                isinstance(ev, stt.SpeechEvent)
                and ev.type in _TRANSCRIPT_EVENTS
                and ev.alternatives
                and is_backchannel(ev.alternatives[0].text)
                and self._reply_in_progress()
            ):
                logger.debug("backchannel over the agent ignored",
                             extra={"final": ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT})
                continue
            yield ev

    def _reply_in_progress(self) -> bool:
        speech = self.session.current_speech
        return speech is not None and not speech.interrupted and not speech.done()

    def announce_recording(self) -> None:
        """Speak the recording notice: fixed words from the backend, never left to the model.
        The recording counts as announced only once the notice has played out in full."""
        consent = self._recording
        if consent is None or consent.notice is None:
            return
        handle = self.session.say(consent.notice, allow_interruptions=False,
                                  add_to_chat_ctx=True)
        handle.add_done_callback(lambda h: None if h.interrupted else consent.announced())

    async def on_enter(self) -> None:
        if self._state is None:
            self._state = self.session.userdata if self._has_userdata() else None
        self.announce_recording()
        records_down = self._state is not None and self._state.records_unavailable
        _, down_greeting, down_fallback = prompts.records_unavailable(
            self._state.caller if self._state is not None else None)
        greeting = down_greeting if records_down else prompts.GREETING_INSTRUCTIONS
        handle = self.session.generate_reply(instructions=greeting, allow_interruptions=True)
        await handle
        if self._state is not None and self._state.ended_by is not None:
            # The caller left while the greeting was being made: nobody to greet. Speaking now
            # would queue speech on a closing session, whose close then waits 60 s for it and
            # keeps the job (a capacity slot) alive for minutes.
            return
        # The greeting must be heard even if the LLM is down: fall back to a fixed sentence.
        if handle.exception() is not None or not _spoke(handle):
            logger.warning("greeting generation failed; speaking the fixed greeting")
            self.session.say(down_fallback if records_down else prompts.FALLBACK_GREETING,
                             allow_interruptions=True)

    def _has_userdata(self) -> bool:
        try:
            _ = self.session.userdata
        except ValueError:
            return False
        return True


_TRANSCRIPT_EVENTS = (
    stt.SpeechEventType.INTERIM_TRANSCRIPT,
    stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
    stt.SpeechEventType.FINAL_TRANSCRIPT,
)


def _spoke(handle: SpeechHandle) -> bool:
    """True when the speech produced an assistant message (text reached the output)."""
    return any(isinstance(item, llm.ChatMessage) and item.role == "assistant"
               for item in handle.chat_items)
