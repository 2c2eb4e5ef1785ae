"""Only requests signed by Slack, recently, reach the bot."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
import respx
from sqlalchemy import Engine

from tests.support.client import (
    ADMIN,
    APP_ID,
    FORM,
    MEMBER,
    PLATFORM_TOKEN,
    BotClient,
    card_with_button,
    mock_quota,
    table_rows,
)


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


async def test_replayed_command_is_acknowledged_and_not_answered(bot: BotClient) -> None:
    """The check runs after the ack, so a replay gets the empty 200 of any ack, and nothing."""
    body = urlencode(bot.command_fields("help", user=MEMBER))
    headers = bot.signed_headers(body)
    first = await bot.post(body, headers, FORM)
    replay = await bot.post(body, headers, FORM)
    assert first[0] == 200 and "Quota Bot" in first[1]
    assert replay == (200, "")


@pytest.mark.parametrize("settings_overrides", [{"acedata_platform_token": PLATFORM_TOKEN}])
async def test_command_from_another_workspace_is_refused(
    bot: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    mock_quota(acedata)
    before = table_rows(db)
    fields = bot.command_fields(f"link prod {APP_ID}", user=ADMIN)
    fields["team_id"] = "T9999"
    status, body = await bot.post_form(fields)
    assert status == 200
    assert "installed for another Slack workspace" in json.loads(body)["text"]
    assert not acedata.calls
    assert table_rows(db) == before


async def test_button_pressed_by_a_user_of_another_workspace_is_ignored(
    bot: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    card = card_with_button("quota_card_refresh", {"alias": "prod", "application_id": APP_ID})
    payload, key = bot.action_payload(card, "quota_card_refresh", user=ADMIN)
    payload["user"]["team_id"] = "T9999"
    status, _ = await bot.post_form({"payload": json.dumps(payload)})
    assert status == 200
    assert "Refused a request from workspace(s) ['T9999']" in caplog.text
    assert key not in bot.slack.responses
    assert not acedata.calls
