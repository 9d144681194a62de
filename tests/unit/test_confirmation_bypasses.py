"""Issue 9, confirmation: every way a change could run without the caller's yes to what they
heard. Real tools on a seeded database; the history items are the framework's own types."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import ToolError

from agent import tools as business
from agent.data.repository import Repository
from tests.support.tool_ctx import FakeCtx, call, verified_ctx


@pytest.fixture
async def repo(seeded_repo: Repository) -> Repository:
    return seeded_repo


async def free_slot(repo: Repository) -> str:
    slots = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=1)
    return str(slots[0].id)


async def booking_read_back(repo: Repository, **heard: Any) -> tuple[FakeCtx, str]:
    """Maria asks for a free slot and the agent reads the booking back (as `heard` says)."""
    ctx = await verified_ctx(repo)
    sid = await free_slot(repo)
    ctx.user_says("book the first one")
    ctx.tool_returned(await call(ctx, business.book_appointment, slot_id=sid), **heard)
    return ctx, sid


async def booked(repo: Repository, slot_id: str) -> bool:
    return not await repo.is_slot_free(int(slot_id))


async def test_a_no_is_not_forgotten_by_a_later_yes(repo: Repository) -> None:
    ctx, sid = await booking_read_back(repo)
    ctx.user_says("No.")  # the model does not act on it...
    ctx.agent_says("Okay. Is there anything else I can help with?")
    ctx.user_says("Yes, sure.")  # ...and a yes to another question comes along
    out = await call(ctx, business.book_appointment, slot_id=sid)
    assert out.startswith("NOT DONE YET")  # read back again, not executed
    assert not await booked(repo, sid)
    assert ctx.userdata.pending_action is not None  # the fresh read-back, bound to this call
    assert ctx.userdata.pending_action.call_id == ctx.function_call.call_id


async def test_yes_to_a_cancel_never_executes_an_earlier_booking(repo: Repository) -> None:
    ctx = await verified_ctx(repo)
    sid = await free_slot(repo)
    (booking,) = await repo.bookings_for_customer(ctx.userdata.verified_customer_id or 0)
    ctx.user_says("book the first one")
    ctx.tool_returned(await call(ctx, business.book_appointment, slot_id=sid))
    ctx.user_says("actually, cancel my other appointment instead")
    ctx.tool_returned(await call(ctx, business.cancel_appointment, booking_id=str(booking.id)))
    ctx.user_says("Yes.")
    out = await call(ctx, business.book_appointment, slot_id=sid)
    assert out.startswith("NOT DONE YET") and not await booked(repo, sid)
    # at most one action waits: the booking is the one now read back, nothing else waits
    pending = ctx.userdata.pending_action
    assert pending is not None and pending.tool == "book_appointment"
    # ...and the cancel that "Yes." answered was not what the model then asked for: it is
    # gone too; asking for it now, with the booking's read-back unanswered, changes nothing
    with pytest.raises(ToolError, match="one thing at a time"):
        await call(ctx, business.cancel_appointment, booking_id=str(booking.id))
    still = await repo.booking_for_customer(booking.customer_id, booking.id)
    assert still is not None and still.status == "booked"


async def test_one_change_waits_at_a_time(repo: Repository) -> None:
    ctx, sid = await booking_read_back(repo)
    ctx.session.history.items.pop()  # the model has not spoken yet: it asks for more first
    (booking,) = await repo.bookings_for_customer(ctx.userdata.verified_customer_id or 0)
    with pytest.raises(ToolError, match="one thing at a time"):
        await call(ctx, business.cancel_appointment, booking_id=str(booking.id))
    ctx.agent_says(ctx.session.history.items[-1].output)  # only the booking is read back
    ctx.user_says("yes")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("Booked:")
    still = await repo.booking_for_customer(booking.customer_id, booking.id)
    assert still is not None and still.status == "booked"  # one yes, one change


async def test_the_cancel_runs_when_the_yes_answers_it(repo: Repository) -> None:
    ctx = await verified_ctx(repo)
    (booking,) = await repo.bookings_for_customer(ctx.userdata.verified_customer_id or 0)
    ctx.user_says("cancel my appointment")
    ctx.tool_returned(await call(ctx, business.cancel_appointment, booking_id=str(booking.id)))
    ctx.user_says("Yes.")
    out = await call(ctx, business.cancel_appointment, booking_id=str(booking.id))
    assert out.startswith("Cancelled")


@pytest.mark.parametrize("played", ["Book a device repair", None],
                         ids=["cut-short", "complete-text"])
async def test_an_interrupted_read_back_does_not_count(repo: Repository,
                                                       played: str | None) -> None:
    ctx = await verified_ctx(repo)
    sid = await free_slot(repo)
    ctx.user_says("book the first one")
    readback = await call(ctx, business.book_appointment, slot_id=sid)
    # the caller cut the read-back off: the framework stores what was played, marked
    # interrupted (even when the text got through, the speech did not end as it should)
    ctx.tool_returned(readback, spoken=played, interrupted=True)
    ctx.user_says("yes")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("NOT DONE YET")
    assert not await booked(repo, sid)


async def test_a_yes_spoken_over_the_end_of_the_read_back_does_not_count(
        repo: Repository) -> None:
    ctx = await verified_ctx(repo)
    sid = await free_slot(repo)
    ctx.user_says("book the first one")
    readback = await call(ctx, business.book_appointment, slot_id=sid)
    ctx.tool_returned(readback, started_speaking_at=100.0, stopped_speaking_at=106.0)
    ctx.user_says("yes", started_speaking_at=104.5)  # before the read-back had finished
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("NOT DONE YET")
    assert not await booked(repo, sid)
    # heard to the end, then answered: it runs
    ctx.tool_returned("NOT DONE YET. " + readback, started_speaking_at=110.0,
                      stopped_speaking_at=116.0)
    ctx.user_says("yes", started_speaking_at=116.4)
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("Booked:")


async def test_a_yes_to_something_the_agent_never_read_back_does_not_count(
        repo: Repository) -> None:
    ctx = await verified_ctx(repo)
    sid = await free_slot(repo)
    ctx.user_says("book the first one")
    readback = await call(ctx, business.book_appointment, slot_id=sid)
    ctx.tool_returned(readback, spoken="Great! Would you like a text confirmation as well?")
    ctx.user_says("Yes please")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("NOT DONE YET")
    assert not await booked(repo, sid)


@pytest.mark.parametrize("answer", ["Okay, let me think about it", "Sure, maybe later",
                                    "yes, but cancel all", "Yes? Which day was that?",
                                    "(the caller typed their PIN on the keypad)"])
async def test_hedged_or_mixed_answers_are_not_assent(repo: Repository, answer: str) -> None:
    ctx, sid = await booking_read_back(repo)
    ctx.user_says(answer)
    with pytest.raises(ToolError, match="Nothing was changed"):
        await call(ctx, business.book_appointment, slot_id=sid)
    assert not await booked(repo, sid)
    # that answer used the read-back up: a "yes" now, with nothing read back, does nothing
    ctx.agent_says("Okay.")
    ctx.user_says("yes")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("NOT DONE YET")
    assert not await booked(repo, sid)


async def test_a_yes_the_model_did_not_act_on_expires_with_its_turn(repo: Repository) -> None:
    ctx, sid = await booking_read_back(repo)
    ctx.user_says("yes")
    ctx.agent_says("Anything else?")  # the model did not book in that turn
    ctx.user_says("no, that's all")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("NOT DONE YET")
    assert not await booked(repo, sid)


async def test_the_honest_path_still_books_once(repo: Repository) -> None:
    ctx, sid = await booking_read_back(repo)
    ctx.user_says("Yes, please book it.")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("Booked:")
    assert (await call(ctx, business.book_appointment, slot_id=sid)).startswith("Already done")
