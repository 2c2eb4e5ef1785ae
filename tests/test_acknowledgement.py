"""Slack is answered at once; a slow Ace Data Cloud never holds up the acknowledgement."""

from __future__ import annotations

import asyncio

import httpx
import respx

from .client import ADMIN, APP_ID, MEMBER, BotClient, application, mock_quota, set_platform_token


async def test_command_is_acknowledged_before_the_upstream_answers(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    upstream_may_answer = asyncio.Event()
    upstream_was_asked = asyncio.Event()

    async def slow_application(request: httpx.Request) -> httpx.Response:
        upstream_was_asked.set()
        await upstream_may_answer.wait()
        return httpx.Response(200, json=application(remaining=12))

    acedata.get(f"/applications/{APP_ID}").side_effect = slow_application
    fields = bot.command_fields("prod", user=MEMBER)

    status, body = await bot.post_form(fields)

    assert (status, body) == (200, "")
    await asyncio.wait_for(upstream_was_asked.wait(), 5)
    key = fields["response_url"].rsplit("/", 1)[1]
    assert key not in bot.slack.responses
    upstream_may_answer.set()
    card = await bot.slack.wait_for_response(key)
    assert card["response_type"] == "in_channel"
    assert "12.00 Credits" in str(card["blocks"])
