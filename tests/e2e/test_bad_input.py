"""Garbage in: a clear private message saying what was wrong and the right form; nothing changes."""

from __future__ import annotations

import pytest
import respx
from sqlalchemy import Engine

from tests.support.client import (
    ADMIN,
    APP_ID,
    MEMBER,
    BotClient,
    card_with_button,
    mock_quota,
    set_platform_token,
    table_rows,
)

BAD_INPUT = {
    "unknown alias": ("nope", MEMBER, "There is no alias *nope* here"),
    "malformed uuid in link": (
        "link prod 107f8d0f-e465-4a7e-a49e",
        ADMIN,
        "`107f8d0f-e465-4a7e-a49e` is not an application ID",
    ),
    "malformed uuid looked up": (
        "107f8d0f-e465-4a7e-a49e-d633d26f7aaZ",
        ADMIN,
        "is not an application ID",
    ),
    "alias too long": ("a" * 33, MEMBER, "an alias is at most 32 characters"),
    "alias too long in link": (f"link {'a' * 40} {APP_ID}", ADMIN, "at most 32 characters"),
    "illegal characters": ("prod!", MEMBER, "uses only a-z, 0-9, dash, underscore and dot"),
    "starts like an option": (f"link --prod {APP_ID}", ADMIN, "Unknown option `--prod`"),
    "starts with a dot": (".prod", MEMBER, "starts with a-z or 0-9"),
    "mention as alias": ("<!channel>", MEMBER, "`&lt;!channel&gt;` is not a valid alias"),
    "sub-command as alias": (
        f"link help {APP_ID}",
        ADMIN,
        "`help` is a /quota sub-command and cannot be an alias",
    ),
    "extra arguments": ("prod now please", MEMBER, "Unexpected extra text: `now please`"),
    "extra arguments to list": ("list everything", MEMBER, "Unexpected extra text"),
    "link missing id": ("link prod", ADMIN, "Missing arguments for `link`"),
    "link too many": (f"link prod {APP_ID} extra", ADMIN, "Too many arguments for `link`"),
    "unknown option": (f"link prod {APP_ID} --global", ADMIN, "Unknown option `--global`"),
    "option twice": (f"link prod {APP_ID} --workspace --workspace", ADMIN, "more than once"),
    "unlink missing alias": ("unlink", ADMIN, "Missing the alias for `unlink`"),
    "admins bad verb": ("admins promote <@UMEMBER|bob>", ADMIN, "`admins` takes `add @user`"),
    "admins not a mention": ("admins add bob", ADMIN, "`bob` is not a user mention"),
    "token with argument": ("token platform-v1-abc", ADMIN, "Unexpected extra text"),
    "5,000 characters": ("x" * 5000, MEMBER, "That is 5,000 characters"),
    "unicode alias": ("prød", MEMBER, "`prød` is not a valid alias"),
    "unicode link": (f"link 生产 {APP_ID}", ADMIN, "`生产` is not a valid alias"),
    "emoji": ("🚀", MEMBER, "is not a valid alias"),
    "alert threshold not a number": ("alert prod below lots", ADMIN, "`lots` is not a threshold"),
    "alert over 100%": ("alert prod below 150%", ADMIN, "`150%` is not a threshold"),
    "alert without below": ("alert prod above 5", ADMIN, "`alert` takes an alias, then `below`"),
    "alert on an unknown alias": ("alert nope below 5", ADMIN, "There is no alias *nope* here"),
    "alert off unknown": ("alert nope off", ADMIN, "There is no alert on *nope* in this channel"),
    "digest at no time": ("digest daily 9am", ADMIN, "`9am` is not a time"),
}


@pytest.mark.parametrize(("text", "user", "expected"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
async def test_bad_input_gets_clear_private_message_and_changes_nothing(
    bot: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    text: str,
    user: str,
    expected: str,
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    before, calls_before = table_rows(db), len(acedata.calls)

    reply = await bot.quota(text, user=user)

    assert reply.response_type == "ephemeral"
    assert expected in reply.text
    assert table_rows(db) == before
    assert len(acedata.calls) == calls_before


async def test_usage_error_shows_the_right_form(bot: BotClient) -> None:
    reply = await bot.quota("link prod", user=ADMIN)
    assert "Usage: `/quota link &lt;alias&gt; &lt;application-id&gt; [--workspace]`" in reply.text
    assert "`/quota help`" in reply.text


async def test_echoed_input_cannot_mention_everyone(bot: BotClient) -> None:
    reply = await bot.quota("prod <!here> <@U999>", user=MEMBER)
    assert "<!here>" not in reply.text
    assert "<@U999>" not in reply.text
    assert "&lt;!here&gt;" in reply.text


async def test_empty_text_lists_aliases(bot: BotClient, acedata: respx.MockRouter) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    reply = await bot.quota("   ", user=MEMBER)
    assert "*prod* (channel) — Midjourney: 493.22 Credits left" in reply.text


async def test_a_garbage_snooze_button_is_refused_clearly(
    bot: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await set_platform_token(bot, acedata)
    before = table_rows(db)
    card = card_with_button("quota_alert_snooze:1h", {"alias": "<!channel>", "snooze": "forever"})
    key = await bot.press(card, "quota_alert_snooze", user=MEMBER)
    reply = await bot.slack.wait_for_response(key)
    assert reply["response_type"] == "ephemeral"
    assert "This button's data could not be read, so nothing was done" in reply["text"]
    assert table_rows(db) == before
