"""Slack is answered at once; a slow Ace Data Cloud never holds up the acknowledgement."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx
from sqlalchemy import Engine

from bot.slack import blocks
from tests.support.client import (
    ADMIN,
    APP_ID,
    MEMBER,
    OTHER_APP_ID,
    BotClient,
    application,
    mock_quota,
    set_platform_token,
    table_rows,
)


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


@pytest.mark.parametrize("settings_overrides", [{"max_in_flight": 2}])
async def test_past_its_limit_the_bot_says_it_is_busy_and_does_nothing(
    bot: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    release = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=application(remaining=12))

    acedata.get(f"/applications/{APP_ID}").side_effect = held
    busy_keys = []
    for _ in range(2):  # two cards being read: the process is at its limit
        fields = bot.command_fields("prod", user=MEMBER)
        assert await bot.post_form(fields) == (200, "")
        busy_keys.append(fields["response_url"].rsplit("/", 1)[1])
    for _ in range(200):
        if len(bot.runtime.in_flight) >= 2:  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.01)
    links_before = table_rows(db)["aliases"]

    turned = await bot.quota(f"link third {OTHER_APP_ID}", user=ADMIN)

    assert turned is not None and turned.via_ack and turned.text == blocks.BUSY
    assert table_rows(db)["aliases"] == links_before
    assert "Busy: 1 request(s) answered 'try again'" in caplog.text
    release.set()
    for key in busy_keys:  # the work already taken on is finished
        card = await bot.slack.wait_for_response(key)
        assert card["response_type"] == "in_channel"
