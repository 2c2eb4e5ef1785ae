"""Only requests signed by Slack, recently, reach the bot."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from .client import FORM, MEMBER, BotClient


async def test_unsigned_request_is_rejected(bot: BotClient) -> None:
    body = urlencode(bot.command_fields("help", user=MEMBER))
    status, _ = await bot.post(body, {}, FORM)
    assert status == 401
    assert bot.slack.calls == []


async def test_wrongly_signed_request_is_rejected(bot: BotClient) -> None:
    body = urlencode(bot.command_fields("help", user=MEMBER))
    headers = bot.signed_headers(body)
    headers["x-slack-signature"] = "v0=" + "0" * 64
    status, _ = await bot.post(body, headers, FORM)
    assert status == 401


async def test_body_changed_after_signing_is_rejected(bot: BotClient) -> None:
    body = urlencode(bot.command_fields("help", user=MEMBER))
    headers = bot.signed_headers(body)
    status, _ = await bot.post(body.replace("help", "list"), headers, FORM)
    assert status == 401


async def test_stale_request_is_rejected(bot: BotClient) -> None:
    status, _ = await bot.post_form(
        bot.command_fields("help", user=MEMBER), timestamp=int(time.time()) - 6 * 60
    )
    assert status == 401


async def test_signed_fresh_request_is_answered(bot: BotClient) -> None:
    reply = await bot.quota("help", user=MEMBER)
    assert reply.via_ack
    assert "/quota link &lt;alias&gt; &lt;application-id&gt;" in reply.text
