"""The one-command quick start sends digests: `serve` runs the scheduler on SQLite by itself."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import respx
from sqlalchemy import Engine, text

from bot.config import Settings
from tests.support.client import ADMIN, APP_ID, CHANNEL, mock_quota, set_platform_token
from tests.support.server import serve
from tests.support.slack_server import SlackServer


@pytest.mark.parametrize(
    "settings_overrides", [{"scheduler_in_web": "on", "worker_poll_seconds": 0.05}]
)
async def test_a_due_digest_is_sent_by_the_web_process(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    async with serve(settings, slack) as bot:
        await set_platform_token(bot, acedata)
        mock_quota(acedata)
        await bot.quota(f"link prod {APP_ID}", user=ADMIN)
        await bot.quota("digest daily 09:00 UTC", user=ADMIN)
        confirmations = len(slack.calls_to("chat.postMessage"))

        def make_due() -> None:
            with db.begin() as connection:
                connection.execute(
                    text("UPDATE digest_schedules SET next_run_at = :due"),
                    {"due": datetime.now(UTC) - timedelta(seconds=1)},
                )

        # In a thread: on SQLite it may wait for the scheduler's write, which needs the loop.
        await asyncio.to_thread(make_due)

        digest = await slack.wait_for_call("chat.postMessage", count=confirmations + 1)

    assert digest.data["channel"] == CHANNEL
    assert "Daily digest at 09:00 UTC" in json.dumps(digest.data["blocks"])
    assert "prod" in json.dumps(digest.data["blocks"])


def test_the_scheduler_runs_in_the_web_process_by_default_only_on_sqlite() -> None:
    sqlite = Settings(_env_file=None, database_url="sqlite:///x.db")  # type: ignore[call-arg]
    postgres = Settings(_env_file=None, database_url="postgresql://u@h/db")  # type: ignore[call-arg]
    assert sqlite.runs_scheduler_in_web
    assert not postgres.runs_scheduler_in_web
    assert postgres.model_copy(update={"scheduler_in_web": "on"}).runs_scheduler_in_web
    assert not sqlite.model_copy(update={"scheduler_in_web": "off"}).runs_scheduler_in_web
