"""A changed or lost ENCRYPTION_KEY: the stored token reads as unreadable, start-up says so once,
users get a sentence that says what to do, and setting the token again repairs it."""

from __future__ import annotations

import asyncio
import logging

import pytest
import respx
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import Engine, text

from bot.config import Settings
from bot.slack.blocks import TOKEN_UNREADABLE
from bot.slack.ids import TOGGLE_ACTION
from tests.support.client import (
    ADMIN,
    APP_ID,
    MEMBER,
    PLATFORM_TOKEN,
    card_with_button,
    mock_quota,
    set_platform_token,
)
from tests.support.factories import with_keys
from tests.support.server import serve
from tests.support.slack_server import SlackServer

NEW_TOKEN = "platform-v1-" + "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
OPERATOR_TOKEN = "platform-v1-" + "operator00000000000000000000000000000000000000000000000000009f9f"
TOGGLE_ENABLE = {"alias": "prod", "application_id": APP_ID, "enable": True}
UNREADABLE_WARNING = "1 stored Ace Data Cloud token(s) cannot be decrypted"


def key_of(settings: Settings) -> str:
    assert settings.encryption_key is not None
    return settings.encryption_key.get_secret_value()


def stored_token(db: Engine) -> str:
    with db.connect() as connection:
        return connection.execute(text("SELECT acedata_token FROM workspaces")).scalar_one()


def unreadable_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "cannot be decrypted" in record.getMessage()]


async def start_up_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The unreadable-token warnings, once start-up has had a moment to log one (the check may
    run beside the first requests rather than before them)."""
    for _ in range(100):
        if unreadable_warnings(caplog):
            break
        await asyncio.sleep(0.02)
    return unreadable_warnings(caplog)


async def save_token_and_link(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter
) -> None:
    """Under `settings`' key: the token set through the modal, and `prod` linked."""
    async with serve(settings, slack) as bot:
        await set_platform_token(bot, acedata)
        mock_quota(acedata)
        linked = await bot.quota(f"link prod {APP_ID}", user=ADMIN)
        assert linked is not None and "now points to" in linked.text


async def test_changed_key_says_what_to_do_until_an_admin_sets_the_token_again(
    settings: Settings,
    slack: SlackServer,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    key_a, key_b = key_of(settings), Fernet.generate_key().decode()
    await save_token_and_link(settings, slack, acedata)
    assert unreadable_warnings(caplog) == []

    async with serve(with_keys(settings, key_b), slack) as bot:
        warnings = await start_up_warnings(caplog)
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert UNREADABLE_WARNING in warnings[0].getMessage()

        asked = len(acedata.calls)
        lookup = await bot.quota("prod", user=MEMBER)
        assert lookup is not None
        assert lookup.response_type == "ephemeral"
        assert lookup.body["text"] == TOKEN_UNREADABLE
        assert "`/quota token`" in lookup.text
        assert "restore the old key" in lookup.text
        assert "Something went wrong" not in lookup.text
        assert len(acedata.calls) == asked

        listing = await bot.quota("list", user=MEMBER)
        assert listing is not None
        assert listing.response_type == "ephemeral"
        assert "*prod*" in listing.text
        assert APP_ID in listing.text
        assert TOKEN_UNREADABLE in listing.text
        assert len(acedata.calls) == asked

        key = await bot.press(
            card_with_button(f"{TOGGLE_ACTION}:enable", TOGGLE_ENABLE), TOGGLE_ACTION, user=ADMIN
        )
        toggle = await bot.slack.wait_for_response(key)
        assert toggle["text"] == TOKEN_UNREADABLE
        assert toggle["replace_original"] is False
        assert len(acedata.calls) == asked

        answer = await set_platform_token(bot, acedata, NEW_TOKEN)
        assert answer["response_action"] == "update"
        assert f"`{NEW_TOKEN[-4:]}`" in str(answer["view"])

        card = await bot.quota("prod", user=MEMBER)
        assert card is not None
        assert card.response_type == "in_channel"
        assert "493.22 Credits" in card.text
        assert acedata.calls.last.request.headers["authorization"] == f"Bearer {NEW_TOKEN}"

    assert len(unreadable_warnings(caplog)) == 1
    stored = stored_token(db)
    assert Fernet(key_b.encode()).decrypt(stored.encode()) == NEW_TOKEN.encode()
    with pytest.raises(InvalidToken):
        Fernet(key_a.encode()).decrypt(stored.encode())
    assert NEW_TOKEN not in caplog.text
    assert PLATFORM_TOKEN not in caplog.text


async def test_rotation_keeps_the_old_token_readable_and_writes_with_the_new_key(
    settings: Settings,
    slack: SlackServer,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    key_a, key_b = key_of(settings), Fernet.generate_key().decode()
    await save_token_and_link(settings, slack, acedata)

    async with serve(with_keys(settings, f"{key_b},{key_a}"), slack) as rotated:
        listing = await rotated.quota("list", user=MEMBER)
        assert listing is not None
        assert "*prod*" in listing.text
        assert "493.22 Credits" in listing.text
        assert TOKEN_UNREADABLE not in listing.text
        assert acedata.calls.last.request.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}"

        answer = await set_platform_token(rotated, acedata, NEW_TOKEN)
        assert answer["response_action"] == "update"

    assert unreadable_warnings(caplog) == []
    stored = stored_token(db)
    assert Fernet(key_b.encode()).decrypt(stored.encode()) == NEW_TOKEN.encode()
    with pytest.raises(InvalidToken):
        Fernet(key_a.encode()).decrypt(stored.encode())

    # The old key can now be dropped: nothing stored needs it any more.
    async with serve(with_keys(settings, key_b), slack) as retired:
        card = await retired.quota("prod", user=MEMBER)
        assert card is not None
        assert card.response_type == "in_channel"
        assert acedata.calls.last.request.headers["authorization"] == f"Bearer {NEW_TOKEN}"
    assert unreadable_warnings(caplog) == []


async def test_unreadable_token_falls_back_to_the_operator_token(
    settings: Settings,
    slack: SlackServer,
    acedata: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await save_token_and_link(settings, slack, acedata)
    lost = with_keys(
        settings,
        Fernet.generate_key().decode(),
        acedata_platform_token=SecretStr(OPERATOR_TOKEN),
    )

    async with serve(lost, slack) as bot:
        card = await bot.quota("prod", user=MEMBER)
        assert card is not None
        assert card.response_type == "in_channel"
        assert "493.22 Credits" in card.text
        assert acedata.calls.last.request.headers["authorization"] == f"Bearer {OPERATOR_TOKEN}"

        listing = await bot.quota("list", user=MEMBER)
        assert listing is not None
        assert TOKEN_UNREADABLE not in listing.text
        assert "493.22 Credits" in listing.text

    assert OPERATOR_TOKEN not in caplog.text
