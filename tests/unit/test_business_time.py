"""Issue 9, time: BUSINESS_TIMEZONE decides which slots are past and what "today" is, whatever
zone the worker's own clock is in."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from livekit.agents import ToolError

from agent import prompts
from agent import tools as business
from agent.config import ConfigError, load_settings
from agent.data.repository import SLOT_FORMAT, Repository
from agent.data.seed import seed
from agent.tools import ToolServices
from tests.support.tool_ctx import MARIA, call, make_ctx

GOOD = {
    "LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey",
    "LIVEKIT_API_SECRET": "s" * 40, "DEEPGRAM_API_KEY": "dg-0123456789",
    "DEEPSEEK_API_KEY": "sk-0123456789", "ELEVEN_API_KEY": "el-0123456789",
}
BUSINESS = ZoneInfo("America/New_York")


@pytest.fixture
def worker_clock_far_west() -> Iterator[None]:
    """The worker's own clock 8 hours behind the business (UTC-12 against New York)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT+12"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_the_setting_is_an_iana_zone() -> None:
    assert load_settings(GOOD).business_timezone == ZoneInfo("America/Los_Angeles")
    assert load_settings({**GOOD, "BUSINESS_TIMEZONE": "Europe/Berlin"}).business_timezone \
        == ZoneInfo("Europe/Berlin")
    with pytest.raises(ConfigError) as exc:
        load_settings({**GOOD, "BUSINESS_TIMEZONE": "Mars/Olympus"})
    assert "BUSINESS_TIMEZONE" in str(exc.value) and "IANA" in str(exc.value)


async def test_a_past_slot_is_never_bookable_whatever_the_worker_clock(
        tmp_path: Path, worker_clock_far_west: None) -> None:
    settings = load_settings({**GOOD, "BUSINESS_TIMEZONE": "America/New_York"})
    repo = await Repository.open(f"sqlite:///{tmp_path}/tz.db",
                                 timezone=settings.business_timezone)
    try:
        await seed(repo)
        business_now = datetime.now(BUSINESS).replace(tzinfo=None)
        assert abs((repo.clock() - business_now).total_seconds()) < 60
        # An hour ago at the business: still 7 hours ahead on the worker's own clock.
        past = await repo.add_slot(
            starts_at=(business_now - timedelta(hours=1)).strftime(SLOT_FORMAT),
            duration_min=30, service="device repair", location="Market Street service centre")
        assert datetime.strptime(past.starts_at, SLOT_FORMAT) > datetime.now()  # worker clock
        assert not await repo.is_slot_free(past.id)
        listed = await repo.available_slots(date_from="2000-01-01", date_to="2100-01-01",
                                            limit=500)
        assert past.id not in {s.id for s in listed}
        maria = await repo.customer_by_phone(MARIA)
        assert maria is not None
        ctx = make_ctx(repo, verified=maria.id)
        with pytest.raises(ToolError, match="already passed"):
            await call(ctx, business.book_appointment, slot_id=str(past.id))
        # "today" is the business's date
        assert ToolServices(repo=repo).today() == datetime.now(BUSINESS).date()
    finally:
        await repo.close()


def test_the_model_is_told_the_business_time() -> None:
    now = datetime(2026, 5, 4, 16, 30)
    line = prompts.business_now(now, "America/New_York")
    assert "Monday, May 4, 2026" in line and "4:30 PM" in line and "America/New_York" in line
