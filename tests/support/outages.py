"""Helpers shared by the tests."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.slack.blocks import DATABASE_UNAVAILABLE
from bot.slack.ids import TOGGLE_ACTION

from .client import (
    APP_ID,
    FORM,
    BotClient,
    Reply,
    card_with_button,
)

# Slack wants the ack within 3 s; a client that gives up a little earlier proves it came in time.
ACK_WITHIN = 2.5


HEALTH_WITHIN = 2.0


NO_DATABASE = "Quota Bot can't reach its database right now — nothing was changed; try again"


TOGGLE_ENABLE = {"alias": "prod", "application_id": APP_ID, "enable": True}


async def signed_post(bot: BotClient, fields: dict[str, str], *, within: float) -> tuple[int, str]:
    """Post a signed request like Slack does, giving up (and failing) after `within` seconds."""
    body = urlencode(fields)
    timeout = aiohttp.ClientTimeout(total=within)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(
            bot.base_url + "/slack/events",
            data=body.encode(),
            headers={**bot.signed_headers(body), "content-type": FORM},
        ) as response,
    ):
        return response.status, await response.text()


async def command(bot: BotClient, text: str, *, user: str) -> tuple[int, Reply]:
    """`/quota <text>`: the HTTP status of the ack, and what the user sees first."""
    fields = bot.command_fields(text, user=user)
    status, body = await signed_post(bot, fields, within=ACK_WITHIN)
    if body:
        return status, Reply(json.loads(body), via_ack=True)
    key = fields["response_url"].rsplit("/", 1)[1]
    return status, Reply(await bot.slack.wait_for_response(key, timeout=5), via_ack=False)


async def press_toggle(bot: BotClient, *, user: str) -> tuple[int, str, dict[str, Any]]:
    """Press Enable on a hand-written card (and submit its dialog when it opens): the ack's
    status and body, and the reply."""
    card = card_with_button(f"{TOGGLE_ACTION}:enable", TOGGLE_ENABLE)
    payload, key = bot.action_payload(card, TOGGLE_ACTION, user=user)
    opened = len(bot.slack.calls_to("views.open"))
    status, body = await signed_post(bot, {"payload": json.dumps(payload)}, within=ACK_WITHIN)
    await bot.settle()
    if len(bot.slack.calls_to("views.open")) > opened:  # the Enable dialog: for good
        await bot.choose_duration(user=user)
    return status, body, await bot.slack.wait_for_response(key, timeout=5)


async def health(bot: BotClient) -> tuple[int, str]:
    """`/healthz`'s status code and the `status` it reports."""
    timeout = aiohttp.ClientTimeout(total=HEALTH_WITHIN)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(bot.base_url + "/healthz") as response,
    ):
        return response.status, (await response.json())["status"]


def assert_no_database_sentence(reply: Reply | dict[str, Any]) -> None:
    body = reply.body if isinstance(reply, Reply) else reply
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert body["text"] == DATABASE_UNAVAILABLE
    assert NO_DATABASE in body["text"]
    assert "Something went wrong" not in json.dumps(body)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text] == []
    assert "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
