"""A minimal stand-in for a tool's `RunContext`: userdata, session history, function call id.

The guards in agent/tools read exactly these; the behaviour tests drive the same tools through
a real `AgentSession`. The history items are the framework's own types (`ChatMessage`,
`FunctionCallOutput`), with the flags the framework sets (`interrupted`, playout metrics).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit.agents.llm import ChatMessage, FunctionCallOutput

from agent.call_state import CallerInfo, CallState
from agent.data.repository import Repository
from agent.tools import ToolServices

MARIA, JAMES = "+14155550142", "+14155550187"


@dataclass
class _History:
    items: list[Any] = field(default_factory=list)


@dataclass
class _Session:
    history: _History = field(default_factory=_History)


@dataclass
class _Call:
    call_id: str


class FakeCtx:
    """userdata + session.history + function_call, which is all the guards read."""

    def __init__(self, state: CallState) -> None:
        self.userdata = state
        self.session = _Session()
        self._n = 0
        self.function_call = _Call("call_0")

    def user_says(self, text: str, **metrics: float) -> ChatMessage:
        msg = ChatMessage(role="user", content=[text], metrics=metrics or {})
        self.session.history.items.append(msg)
        return msg

    def next_call(self) -> None:
        self._n += 1
        self.function_call = _Call(f"call_{self._n}")

    def output(self, call_id: str, output: str) -> None:
        """A function call's output, as the framework adds it to the history."""
        self.session.history.items.append(
            FunctionCallOutput(call_id=call_id, output=output, is_error=False, name="t"))

    def tool_returned(self, output: str, *, spoken: str | None = None,
                      interrupted: bool = False, **metrics: float) -> None:
        """The last call's output, then the agent's reply to it (by default: the output
        itself, as an agent reading it out would), played to the end unless `interrupted`."""
        self.output(self.function_call.call_id, output)
        self.agent_says(output if spoken is None else spoken, interrupted=interrupted,
                        **metrics)

    def agent_says(self, text: str, *, interrupted: bool = False, **metrics: float) -> None:
        self.session.history.items.append(
            ChatMessage(role="assistant", content=[text], interrupted=interrupted,
                        metrics=metrics or {}))


_TEMPLATE: dict[str, Path] = {}


async def open_seeded(tmp_path: Path, name: str = "guards.db") -> Repository:
    """A freshly seeded SQLite database of its own (a copy of one seeded per test process:
    seeding takes seconds on a loaded machine, copying a file does not)."""
    from agent.data.seed import seed

    if "db" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="seeded-")) / "template.db"
        repo = await Repository.open(f"sqlite:///{template}")
        await seed(repo)
        await repo.close()
        _TEMPLATE["db"] = template
    shutil.copyfile(_TEMPLATE["db"], tmp_path / name)
    return await Repository.open(f"sqlite:///{tmp_path}/{name}")


def make_ctx(repo: Repository, *, phone: str | None = MARIA, verified: int | None = None,
             with_pin: bool = True) -> FakeCtx:
    state = CallState(caller=CallerInfo(kind="sip", phone_number=phone, call_id="SCL_test"),
                      services=ToolServices(repo=repo), verified_customer_id=verified)
    state.verified_with_pin = with_pin and verified is not None
    return FakeCtx(state)


async def call(ctx: FakeCtx, tool: Any, **kwargs: Any) -> str:
    """Invoke a tool as the framework would (a fresh function-call id each time)."""
    ctx.next_call()
    return await tool(ctx, **kwargs)


async def verified_ctx(repo: Repository, phone: str = MARIA) -> FakeCtx:
    """A call from `phone`'s customer, verified with their PIN."""
    customer = await repo.customer_by_phone(phone)
    assert customer is not None
    return make_ctx(repo, phone=phone, verified=customer.id)
