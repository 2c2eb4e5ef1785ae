"""The App Home end to end: Slack's app_home_opened event, signed, through the real ASGI app, and
what the user then sees (the view the bot publishes), for admins and members, when Ace Data
Cloud, the database or Slack itself fails."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from bot.services import aliases
from bot.slack.ids import HOME_TOKEN_ACTION, TOKEN_MODAL_CALLBACK
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    BotClient,
    application,
    set_platform_token,
)
from tests.support.home import open_home, published
from tests.support.slack_server import TEAM_ID
from tests.support.usage import aggregate_route, mock_usage

_presses = itertools.count(1)
UNREACHABLE = "postgresql://nobody:wrong@127.0.0.1:1/none"
LAST4 = PLATFORM_TOKEN[-4:]


async def press_home_button(bot: BotClient, view: dict[str, Any], *, user: str) -> str:
    """Press the Home's token button as `user`, as Slack sends it; the press's trigger_id."""
    (button,) = [
        block["accessory"]
        for block in view["blocks"]
        if block.get("accessory", {}).get("action_id") == HOME_TOKEN_ACTION
    ]
    trigger_id = f"trigger.home{next(_presses)}"
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0001",
        "trigger_id": trigger_id,
        "container": {"type": "view", "view_id": "VHOME"},
        "view": {"id": "VHOME", "type": "home", "blocks": view["blocks"]},
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": "home_token",
                "text": button["text"],
                "action_ts": "1700000001.0",
            }
        ],
    }
    status, body = await bot.post_form({"payload": json.dumps(payload)})
    assert (status, body) == (200, "")
    return trigger_id


def opened_modal(bot: BotClient, trigger_id: str) -> dict[str, Any]:
    (call,) = [c for c in bot.slack.calls_to("views.open") if c.data["trigger_id"] == trigger_id]
    view = call.data["view"]
    return json.loads(view) if isinstance(view, str) else view


def lines(caplog: pytest.LogCaptureFixture, part: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if part in r.getMessage()]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing the bot logged (the test's Slack stand-in may log its own) carries a traceback or
    reads as an error."""
    mine = [r for r in caplog.records if r.name.split(".")[0] == "bot"]
    assert [r.getMessage() for r in mine if r.exc_info or r.exc_text] == []
    assert [r.getMessage() for r in mine if r.levelno >= logging.ERROR] == []


async def test_an_admin_sees_the_token_status_and_each_alias_with_its_quota(
    linked: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert await open_home(linked, ADMIN) == 200
    user, view, text = await published(linked)
    await linked.settle()

    assert user == ADMIN
    assert view["type"] == "home"
    assert f"set for the account *acme-ops*, ending in `{LAST4}`" in text
    assert f"*prod* · <#{CHANNEL}> — Midjourney: 493.22 Credits left (95.8%)" in text
    assert "global fallback OFF" in text
    assert "global balance 1,234.50 Credits" in text
    assert f"<@{LISTED_ADMIN}>" in text  # the bot admins
    assert "audit events" in text and "linked *prod*" in text
    assert "Replace token" in text
    # The token itself, nowhere: not in the view, not in the logs.
    assert PLATFORM_TOKEN not in text
    assert PLATFORM_TOKEN[:-4] not in text
    assert PLATFORM_TOKEN not in caplog.text


async def test_a_listed_bot_admin_gets_the_admin_home_too(linked: BotClient) -> None:
    await open_home(linked, LISTED_ADMIN)
    user, _, text = await published(linked)
    assert user == LISTED_ADMIN
    assert f"ending in `{LAST4}`" in text
    assert "Midjourney: 493.22 Credits left" in text


async def test_a_member_sees_the_aliases_and_the_help_but_no_token_or_audit(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    await linked.quota(f"link music {OTHER_APP_ID} --workspace", user=ADMIN)
    reads_before = len(acedata.calls)
    await open_home(linked, MEMBER)
    user, view, text = await published(linked)
    await linked.settle()

    assert user == MEMBER
    assert f"• *music* · workspace-wide → `{OTHER_APP_ID}`" in text
    # A channel's aliases (the channel may be private) show only in that channel.
    assert APP_ID not in text and CHANNEL not in text
    assert "1 more linked to single channels" in text
    assert "`/quota help` — this help" in text
    for admin_only in (LAST4, "acme-ops", "Ace Data Cloud token:", "audit events", "Credits"):
        assert admin_only not in text
    assert not [block for block in view["blocks"] if "accessory" in block]
    assert len(acedata.calls) == reads_before  # a member's Home reads no quota


async def test_an_unreadable_alias_shows_unavailable_and_the_others_still_show(
    linked: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    await linked.quota(f"link music {OTHER_APP_ID} --workspace", user=ADMIN)
    acedata.get(f"/applications/{APP_ID}").mock(side_effect=httpx.ConnectError("down"))
    caplog.set_level(logging.INFO)
    await open_home(linked, ADMIN)
    _, _, text = await published(linked)
    await linked.settle()

    assert f"*prod* · <#{CHANNEL}> → `{APP_ID}`: *unavailable*" in text
    assert "*music* · workspace-wide — Suno: 493.22 Credits left" in text
    assert f"ending in `{LAST4}`" in text
    (line,) = lines(caplog, "App Home: ")
    assert f"1 of 2 aliases unreadable team={TEAM_ID} user={ADMIN} (first: prod" in line
    assert_no_traceback(caplog)


async def test_ace_data_cloud_down_still_publishes_the_home(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    acedata.get(f"/applications/{APP_ID}").respond(502)
    acedata.get("/applications/", params__contains={"scope": "Global"}).respond(502)
    await open_home(linked, ADMIN)
    _, _, text = await published(linked)
    assert f"*prod* · <#{CHANNEL}> → `{APP_ID}`: *unavailable*" in text
    assert "global balance" not in text
    assert f"ending in `{LAST4}`" in text


async def test_the_event_is_acked_before_the_quota_is_read(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    answer = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await answer.wait()
        return httpx.Response(200, json=application(APP_ID, remaining=7))

    acedata.get(f"/applications/{APP_ID}").mock(side_effect=slow)
    try:
        assert await open_home(linked, ADMIN) == 200
        assert linked.slack.calls_to("views.publish") == []
    finally:
        answer.set()
    _, _, text = await published(linked)
    assert "Midjourney: 7.00 Credits left" in text


async def test_the_set_token_button_opens_the_token_modal_for_admins_only(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await open_home(bot, ADMIN)
    _, view, text = await published(bot)
    assert "*Ace Data Cloud token:* not set." in text
    await bot.settle()

    trigger_id = await press_home_button(bot, view, user=ADMIN)
    await bot.slack.wait_for_call("views.open")
    assert opened_modal(bot, trigger_id)["callback_id"] == TOKEN_MODAL_CALLBACK

    # Button values are not trusted: a member pressing it is told, in a modal, that they can't.
    trigger_id = await press_home_button(bot, view, user=MEMBER)
    await bot.slack.wait_for_call("views.open", count=2)
    refusal = opened_modal(bot, trigger_id)
    assert refusal.get("callback_id") != TOKEN_MODAL_CALLBACK
    assert "Only bot admins can set the Ace Data Cloud token" in json.dumps(refusal)

    # The admin saves the token in the modal; the Home then shows it set.
    await set_platform_token(bot, acedata)
    await open_home(bot, ADMIN)
    _, _, text = await published(bot, count=2)
    assert f"ending in `{LAST4}`" in text


async def test_only_the_home_tab_is_published(linked: BotClient) -> None:
    assert await open_home(linked, MEMBER, tab="messages") == 200
    await linked.settle()
    assert linked.slack.calls_to("views.publish") == []


async def test_the_home_shows_only_its_own_workspace(linked: BotClient) -> None:
    assert linked.runtime is not None
    await aliases.link(
        linked.runtime.db,
        team_id="T0OTHER",
        channel_id=None,
        name="elsewhere",
        application_id=OTHER_APP_ID,
        user_id="UOTHER",
    )
    await linked.quota(f"link music {OTHER_APP_ID} --workspace", user=ADMIN)
    for user, count in ((ADMIN, 1), (MEMBER, 2)):
        await open_home(linked, user)
        _, _, text = await published(linked, count)
        assert "*music*" in text
        assert "elsewhere" not in text
        assert "T0OTHER" not in text


@pytest.mark.parametrize("failure", ["error", "dropped"])
async def test_views_publish_failing_is_logged_in_one_line_and_nothing_crashes(
    linked: BotClient, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    caplog.set_level(logging.INFO)
    if failure == "error":
        linked.slack.failures["views.publish"] = "invalid_arguments"
    else:
        linked.slack.drops.add("views.publish")
    assert await open_home(linked, ADMIN) == 200
    await linked.slack.wait_for_call("views.publish")
    await linked.settle()

    (line,) = lines(caplog, "views.publish failed")
    assert line.startswith(f"views.publish failed team={TEAM_ID} user={ADMIN}: ")
    if failure == "error":
        assert line.endswith(": invalid_arguments")
    assert_no_traceback(caplog)

    # The bot carries on: the next opening is published, and commands still answer.
    linked.slack.failures.pop("views.publish", None)
    linked.slack.drops.discard("views.publish")
    calls = len(linked.slack.calls_to("views.publish"))
    await open_home(linked, ADMIN)
    _, _, text = await published(linked, calls + 1)
    assert "Midjourney: 493.22 Credits left" in text
    reply = await linked.quota("list", user=MEMBER)
    assert reply is not None and "prod" in reply.text


@pytest.mark.parametrize(
    "settings_overrides",
    [{"database_url": UNREACHABLE, "database_timeout": 0.3, "retry_backoff_seconds": 0}],
)
async def test_with_the_database_down_the_home_says_so(
    bot: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert await open_home(bot, ADMIN) == 200
    _, _, text = await published(bot)
    await bot.settle()

    assert "can't reach its database right now, so this page can't be shown" in text
    (line,) = lines(caplog, "App Home without its data")
    assert f"team={TEAM_ID} user={ADMIN}: " in line
    assert not acedata.calls
    assert_no_traceback(caplog)


async def test_an_admin_sees_each_aliases_top_api_this_week(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    await linked.quota(f"link music {OTHER_APP_ID} --workspace", user=ADMIN)
    week = mock_usage(
        acedata,
        [(0, "mj-imagine", "31"), (3, "mj-describe", 15), (6, "mj-blend", "4"), (7, "x", 900)],
    )
    # OTHER_APP_ID's aggregate answers 404 (the `linked` fixture): no line for it.

    await open_home(linked, ADMIN)
    _, view, _ = await published(linked)
    await linked.settle()

    sections = [block["text"]["text"] for block in view["blocks"] if block["type"] == "section"]
    [aliases_section] = [s for s in sections if "*prod* ·" in s]
    music, prod = aliases_section.split("\n• ")
    assert "Midjourney: 493.22 Credits left" in prod
    assert prod.endswith("\n      top this week: Midjourney Imagine 62 %")
    assert "Suno: 493.22 Credits left" in music
    assert "top this week" not in music
    request = week.calls.last.request
    assert request.url.params["timezone"] == "UTC"
    first_day = datetime.now(UTC).date() - timedelta(days=6)
    assert request.url.params["created_at_from"] == f"{first_day.isoformat()}T00:00:00Z"


async def test_a_slow_top_api_read_is_left_out_and_the_home_still_shows(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={"items": []})

    aggregate_route(acedata).mock(side_effect=slow)
    started = asyncio.get_running_loop().time()
    await open_home(linked, ADMIN)
    _, _, text = await published(linked)
    waited = asyncio.get_running_loop().time() - started
    await linked.settle()

    assert f"*prod* · <#{CHANNEL}> — Midjourney: 493.22 Credits left (95.8%)" in text
    assert "top this week" not in text
    assert waited < 10
