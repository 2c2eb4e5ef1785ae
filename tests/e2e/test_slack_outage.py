"""Slack's own Web API down or slow when the bot starts: requests are still answered at once."""

from __future__ import annotations

import logging

import pytest
import respx

from bot.config import Settings
from bot.slack.blocks import SLACK_UNREACHABLE
from tests.support.client import ADMIN, APP_ID, MEMBER, mock_quota, set_platform_token
from tests.support.server import serve
from tests.support.slack_server import SlackServer


async def test_commands_say_slack_cannot_be_reached_until_it_can(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter
) -> None:
    slack.failures["auth.test"] = "internal_error"
    async with serve(settings, slack) as bot:
        fields = bot.command_fields("prod", user=MEMBER)
        status, body = await bot.post_form(fields)
        told = await slack.wait_for_response(fields["response_url"].rsplit("/", 1)[1])

        assert (status, body) == (200, "")
        assert told["text"] == SLACK_UNREACHABLE

        del slack.failures["auth.test"]
        await set_platform_token(bot, acedata)
        mock_quota(acedata)
        await bot.quota(f"link prod {APP_ID}", user=ADMIN)
        card = await bot.quota("prod", user=MEMBER)
        assert card.response_type == "in_channel"


async def test_a_slack_error_page_instead_of_json_is_one_line(
    settings: Settings, slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    slack.http_errors["auth.test"] = 503
    with caplog.at_level(logging.WARNING):
        async with serve(settings, slack) as bot:
            fields = bot.command_fields("prod", user=MEMBER)
            await bot.post_form(fields)
            told = await slack.wait_for_response(fields["response_url"].rsplit("/", 1)[1])

    assert told["text"] == SLACK_UNREACHABLE
    failures = [r for r in caplog.records if r.getMessage().startswith("auth.test failed")]
    assert failures and all(r.exc_info is None for r in failures)
    assert "auth.test failed: http_503" in failures[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
