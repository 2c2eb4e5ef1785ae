"""Two scheduler loops on one database: every due digest is posted exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import respx

from bot.config import Settings
from bot.runtime import Runtime
from bot.services import aliases, digests
from bot.services.schedules import Schedule
from bot.services.workspaces import save_token
from bot.slack.install.tokens import SlackAccess
from bot.worker import digest_round
from tests.support.client import APP_ID, PLATFORM_TOKEN, mock_quota
from tests.support.slack_server import TEAM_ID, SlackServer

CHANNELS = [f"C{number:05d}" for number in range(200)]


@pytest.fixture
async def two_workers(settings: Settings) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two runtimes, each with its own engine and connections, as two processes would have."""
    first, second = await Runtime.open(settings), await Runtime.open(settings)
    yield first, second
    await first.close()
    await second.close()


async def test_two_workers_post_each_of_200_due_digests_exactly_once(
    two_workers: tuple[Runtime, Runtime], slack: SlackServer, acedata: respx.MockRouter
) -> None:
    first, second = two_workers
    mock_quota(acedata)
    await save_token(first.db, team_id=TEAM_ID, token=PLATFORM_TOKEN, account="ops", user_id="U")
    await aliases.link(
        first.db,
        team_id=TEAM_ID,
        channel_id=None,
        name="prod",
        application_id=APP_ID,
        user_id="U",
    )
    set_at = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    schedule = Schedule("daily", time(9, 0), ZoneInfo("UTC"))
    for channel in CHANNELS:
        await digests.set_schedule(
            first.db,
            team_id=TEAM_ID,
            channel_id=channel,
            schedule=schedule,
            now=set_at,
            user_id="U",
        )
    due = set_at + timedelta(hours=1, seconds=5)

    async def rounds(runtime: Runtime) -> int:
        access = SlackAccess.open(runtime, retry_seconds=0)
        sent = 0
        for _ in range(4):
            sent += await digest_round(runtime, access, now=due)
        return sent

    claimed = await asyncio.gather(rounds(first), rounds(second))

    posts = Counter(call.data["channel"] for call in slack.calls_to("chat.postMessage"))
    assert sum(claimed) == 200
    assert posts == Counter(CHANNELS)
    application_reads = [c for c in acedata.calls if c.request.url.path.endswith(APP_ID)]
    assert 1 <= len(application_reads) <= 2  # once per worker's round at most
