"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.data.repository import Repository
from tests.support.tool_ctx import open_seeded


@pytest.fixture
async def seeded_repo(tmp_path: Path) -> AsyncIterator[Repository]:
    """A freshly seeded SQLite repository of the test's own (see `open_seeded`)."""
    repo = await open_seeded(tmp_path)
    try:
        yield repo
    finally:
        await repo.close()
