"""Issue 9, identity: lockouts that survive the call, PINs for changes, answers (and work) that
never tell whether a number is a customer's, caller ID from the bridge's E.164 only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import ToolError

from agent import tools as business
from agent.data.repository import Repository
from agent.telephony.caller import caller_from_participant
from agent.tools import verification
from agent.tools.verification import NotAllowed
from tests.support.tool_ctx import JAMES, MARIA, call, make_ctx

TOMAS = "+13055550111"  # has no PIN: date of birth only
UNKNOWN = "+12025550100"


@pytest.fixture
async def repo(seeded_repo: Repository) -> Repository:
    return seeded_repo


async def fail(ctx: Any, **kwargs: str) -> str:
    with pytest.raises(ToolError) as exc:
        await call(ctx, business.verify_identity, **kwargs)
    return exc.value.message


async def test_failures_are_counted_across_calls_and_lock_the_line(repo: Repository) -> None:
    for attempt in range(3):  # three calls, one wrong PIN each: each call is a fresh CallState
        await fail(make_ctx(repo, phone=JAMES), pin=f"000{attempt}")
    fresh_call = make_ctx(repo, phone=JAMES)
    message = await fail(fresh_call, pin="1357")  # the right PIN, after the lock
    assert "locked" in message and "transfer" in message
    assert fresh_call.userdata.verified_customer_id is None
    audit = await repo.audit_entries(tool="verify_identity")
    assert audit[-1].outcome == "locked"  # a locked account is audited as such


async def test_the_account_stays_locked_when_its_number_changes(repo: Repository) -> None:
    for _ in range(3):
        await fail(make_ctx(repo, phone=JAMES), pin="0000")
    # the customer's number changes (or the line lock expires): the account itself is locked
    await repo.db.execute("UPDATE customers SET phone_e164 = '+14155550188' WHERE phone_e164 = ?",
                          (JAMES,))
    ctx = make_ctx(repo, phone="+14155550188")
    message = await fail(ctx, pin="1357")
    assert "doesn't match" in message  # the same words as a wrong PIN: the lock is no oracle
    assert ctx.userdata.verified_customer_id is None
    assert (await repo.audit_entries(tool="verify_identity"))[-1].outcome == "locked"


async def test_old_failures_age_out_of_the_lockout_window(repo: Repository) -> None:
    for _ in range(3):
        await fail(make_ctx(repo, phone=JAMES), pin="0000")
    await repo.db.execute("UPDATE verification_failures SET at = '2000-01-01T00:00:00+00:00'")
    ctx = make_ctx(repo, phone=JAMES)
    assert "Verified" in await call(ctx, business.verify_identity, pin="1357")


async def test_a_success_resets_the_count(repo: Repository) -> None:
    await fail(make_ctx(repo, phone=JAMES), pin="0000")
    await fail(make_ctx(repo, phone=JAMES), pin="0000")
    assert "Verified" in await call(make_ctx(repo, phone=JAMES), business.verify_identity,
                                    pin="1357")
    assert "2 more tries" in await fail(make_ctx(repo, phone=JAMES), pin="0000")


async def test_changes_to_an_account_with_a_pin_need_the_pin(repo: Repository) -> None:
    ctx = make_ctx(repo)  # Maria, who has a PIN
    verified = await call(ctx, business.verify_identity, date_of_birth="1985-03-14")
    assert "Verified" in verified and "PIN" in verified
    # reading is allowed on the date of birth...
    assert "Order" in await call(ctx, business.check_order_status)
    # ...changing is not
    slots = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=1)
    (booking,) = await repo.bookings_for_customer(ctx.userdata.verified_customer_id or 0)
    for tool, kwargs in [
        (business.book_appointment, {"slot_id": str(slots[0].id)}),
        (business.cancel_appointment, {"booking_id": str(booking.id)}),
        (business.reschedule_appointment, {"booking_id": str(booking.id),
                                           "new_slot_id": str(slots[0].id)}),
        (business.create_support_ticket, {"subject": "No sound", "description": "The TV is mute."}),
        (business.send_sms_confirmation, {"booking_id": str(booking.id)}),
    ]:
        with pytest.raises(NotAllowed, match="need the caller's PIN"):
            await call(ctx, tool, **kwargs)
    # the PIN, typed on the keypad, opens changes
    ctx.userdata.dtmf_buffer = "2468#"
    assert "Verified" in await call(ctx, business.verify_identity)
    out = await call(ctx, business.book_appointment, slot_id=str(slots[0].id))
    assert out.startswith("NOT DONE YET")


async def test_an_account_without_a_pin_changes_on_the_date_of_birth(repo: Repository) -> None:
    ctx = make_ctx(repo, phone=TOMAS)
    assert "Verified" in await call(ctx, business.verify_identity, date_of_birth="2001-09-09")
    slots = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01", limit=1)
    out = await call(ctx, business.book_appointment, slot_id=str(slots[0].id))
    assert out.startswith("NOT DONE YET")


async def test_no_answer_reveals_whether_a_number_is_a_customer(
        repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    hashes: list[str] = []
    real_check = verification.check_pin

    def counting_check(pin: str, stored: str | None) -> bool:
        hashes.append(pin)
        return real_check(pin, stored)

    monkeypatch.setattr(verification, "check_pin", counting_check)
    queries: list[str] = []
    for name in ("customer_by_phone", "verification_failures", "record_verification_failure"):
        original = getattr(repo, name)

        async def counted(*a: Any, _name: str = name, _original: Any = original,
                          **kw: Any) -> Any:
            queries.append(_name)
            return await _original(*a, **kw)

        monkeypatch.setattr(repo, name, counted)

    cases = {
        "wrong date of birth": (MARIA, {"date_of_birth": "1985-03-15"}),
        "no account": (UNKNOWN, {"date_of_birth": "1985-03-14"}),
        "no account, a PIN": ("+12025550101", {"pin": "2468"}),
        "account without a PIN, a PIN": (TOMAS, {"pin": "2468"}),
        "account with a PIN, wrong PIN": (JAMES, {"pin": "1111"}),
    }
    answers, work = {}, {}
    for name, (phone, kwargs) in cases.items():  # one number each: a first try on every line
        hashes.clear()
        queries.clear()
        ctx = make_ctx(repo, phone=phone)
        assert await call(ctx, business.lookup_customer) == business.identity.HOW_TO_VERIFY
        answers[name] = await fail(ctx, **kwargs)
        work[name] = (len(hashes), tuple(sorted(queries)))
    assert len(set(answers.values())) == 1, answers  # word for word the same
    assert len(set(work.values())) == 1, work  # the same hashing and the same queries
    assert work["no account"][0] == 1  # one PIN hash even when there is nothing to check


def test_caller_id_is_the_bridges_e164_user_part_only() -> None:
    def participant(kind: int, attrs: dict[str, str]) -> Any:
        class P:
            identity = "p"
            attributes = attrs

        p = P()
        p.kind = kind  # type: ignore[attr-defined]
        return p

    sip = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    browser = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    assert caller_from_participant(participant(sip, {"sip.phoneNumber": MARIA})).phone_number \
        == MARIA
    # a browser participant that sets "sip.*" attributes on itself is no phone caller
    forged = caller_from_participant(participant(browser, {"sip.phoneNumber": MARIA}))
    assert forged.phone_number is None and not forged.is_phone


async def test_a_national_caller_id_matches_no_account(repo: Repository) -> None:
    national = make_ctx(repo, phone="4155550142")  # Maria's digits, without the "+1"
    message = await fail(national, date_of_birth="1985-03-14")
    assert "no usable number" in message
    assert national.userdata.verified_customer_id is None
    entry = (await repo.audit_entries(tool="verify_identity"))[-1]
    assert "1985" not in entry.arguments and json.loads(entry.arguments)["date_of_birth"] \
        == "[redacted]"
