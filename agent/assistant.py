"""The phone assistant: instructions, greeting, and the tools it may propose."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from livekit.agents import Agent, llm

from . import prompts
from .call_state import CallState
from .telephony import TransferPlan, make_end_call_tool, make_transfer_tool
from .tools import BUSINESS_TOOLS

logger = logging.getLogger("phone-agent.assistant")


class PhoneAssistant(Agent):
    """Answers the phone for the business; every action goes through a backend-checked tool."""

    def __init__(
        self,
        *,
        state: CallState | None = None,
        transfer_plan: TransferPlan | None = None,
        extra_tools: Sequence[Any] = (),
        chat_ctx: llm.ChatContext | None = None,
    ) -> None:
        self._state = state
        instructions = prompts.INSTRUCTIONS
        if state is not None:
            instructions += "\n" + prompts.caller_context(state.caller)
        plan = transfer_plan or TransferPlan({})
        super().__init__(
            instructions=instructions,
            tools=[
                *BUSINESS_TOOLS,
                make_transfer_tool(plan),
                make_end_call_tool(lambda: self._state),
                *extra_tools,
            ],
            chat_ctx=chat_ctx,
        )

    async def on_enter(self) -> None:
        if self._state is None:
            self._state = self.session.userdata if self._has_userdata() else None
        handle = self.session.generate_reply(instructions=prompts.GREETING_INSTRUCTIONS,
                                             allow_interruptions=True)
        await handle
        # The greeting must be heard even if the LLM is down: fall back to a fixed sentence.
        if handle.exception() is not None or not _spoke(handle):
            logger.warning("greeting generation failed; speaking the fixed greeting")
            self.session.say(prompts.FALLBACK_GREETING, allow_interruptions=True)

    def _has_userdata(self) -> bool:
        try:
            _ = self.session.userdata
        except ValueError:
            return False
        return True


def _spoke(handle: Any) -> bool:
    """True when the speech produced an assistant message (text reached the output)."""
    items = getattr(handle, "chat_items", None) or []
    return any(getattr(item, "role", None) == "assistant" for item in items)
