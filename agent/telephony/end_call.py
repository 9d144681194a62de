"""The end_call tool: LiveKit's EndCallTool, recording that the agent ended the call."""

from __future__ import annotations

from collections.abc import Callable

from livekit.agents.beta.tools import EndCallTool

from ..call_state import CallState, EndedBy


def make_end_call_tool(state_getter: Callable[[], CallState | None]) -> EndCallTool:
    """The goodbye plays out fully, then the room is deleted, which hangs up the caller's
    phone leg too (ending only the agent's session would leave the caller in silence)."""

    async def on_called(_: object) -> None:
        state = state_getter()
        if state is not None:
            state.end(EndedBy.AGENT)

    return EndCallTool(
        delete_room=True,
        end_instructions="Say a short, friendly goodbye. Nothing else.",
        ignore_on_enter=True,
        on_tool_called=on_called,
        extra_description="Use it once the caller has said they have nothing else.",
    )
