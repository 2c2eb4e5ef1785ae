"""The HTTP surface beyond Slack's requests: health checks."""

from __future__ import annotations

import aiohttp
import pytest

from bot.config import Settings
from bot.version import version
from tests.support.client import BotClient
from tests.support.server import serve
from tests.support.slack_server import SlackServer


async def test_healthz_is_ok_with_the_database_reachable(bot: BotClient) -> None:
    async with aiohttp.ClientSession() as http, http.get(bot.base_url + "/healthz") as response:
        assert response.status == 200
        answer = await response.json()
        assert (answer["status"], answer["database"]) == ("ok", "ok")


@pytest.mark.parametrize(
    "settings_overrides",
    [{"database_url": "postgresql://nobody:wrong@127.0.0.1:1/none"}],
)
async def test_healthz_is_503_without_the_database(settings: Settings, slack: SlackServer) -> None:
    async with (
        serve(settings, slack) as bot,
        aiohttp.ClientSession() as http,
        http.get(bot.base_url + "/healthz") as response,
    ):
        assert response.status == 503
        assert await response.json() == {
            "status": "database unavailable",
            "database": "unavailable",
            "version": version(),
        }


async def test_slack_endpoint_accepts_only_post(bot: BotClient) -> None:
    async with aiohttp.ClientSession() as http, http.get(bot.base_url + "/slack/events") as r:
        assert r.status == 405
