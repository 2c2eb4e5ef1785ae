"""A key's secrets (`token`, and `username`/`password` of an identity key) come back in Ace Data
Cloud's answers but never leave the client: nothing the bot says to Slack, logs or stores holds
them, whether they came in a key list or in the answer to a change."""

from __future__ import annotations

import json
import logging

import pytest
import respx
from sqlalchemy import Engine

from bot.slack.ids import KEY_CAP_ACTION, KEY_PAUSE_ACTION, KEY_RESUME_ACTION
from tests.support.client import ADMIN, BotClient, everything_stored
from tests.support.keys import (
    CI_KEY,
    IDENTITY_PASSWORD,
    IDENTITY_USER,
    SECRETS,
    TOKEN_SECRET,
    WEB_KEY,
    FakeKeys,
    api_key,
    keys_message,
    message_of,
    opened_view,
    press_key,
    submit_cap,
)


def everything_said(bot: BotClient) -> str:
    """Every Web API call and every response_url message the Slack stand-in received."""
    calls = [{"method": c.method, "data": c.data} for c in bot.slack.calls]
    return json.dumps({"calls": calls, "responses": bot.slack.responses}, default=str)


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        lines.append(str(record.exc_info))
    return "\n".join(lines)


async def test_no_key_secret_is_shown_logged_or_stored(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeKeys(
        acedata,
        [
            api_key(CI_KEY, "ci-bot", used="12.5"),
            api_key(WEB_KEY, "web", used=3, kind="Identity"),
        ],
    )
    message = await keys_message(linked, user=ADMIN)
    answer = json.dumps(fake.list_route.calls.last.response.json())
    assert all(secret in answer for secret in SECRETS)  # the list really held them

    # Pause the token key, cap the identity key, resume the token key: each PATCH is answered
    # with the changed key, secrets and all.
    await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    paused = await linked.slack.wait_for_call("chat.update")
    opened = len(linked.slack.calls_to("views.open"))
    await press_key(linked, message_of(paused), KEY_CAP_ACTION, WEB_KEY, user=ADMIN)
    await linked.slack.wait_for_call("views.open", count=opened + 1)
    await submit_cap(linked, "99", opened_view(linked)["private_metadata"], user=ADMIN)
    capped = await linked.slack.wait_for_call("chat.update", count=2)
    await press_key(linked, message_of(capped), KEY_RESUME_ACTION, CI_KEY, user=ADMIN)
    await linked.slack.wait_for_call("chat.update", count=3)
    await linked.settle()

    assert [body for _, body in fake.patches][1:] == [
        {"limited_amount": "99"},
        {"expired_at": None},
    ]
    patched = json.dumps([call.response.json() for call in fake.patch_route.calls])
    assert TOKEN_SECRET in patched and IDENTITY_USER in patched and IDENTITY_PASSWORD in patched
    said, logged, stored = everything_said(linked), everything_logged(caplog), everything_stored(db)
    assert "ci-bot" in said and "key_readings" in stored and caplog.records  # all were searched
    for secret in SECRETS:
        assert secret not in said
        assert secret not in logged
        assert secret not in stored
