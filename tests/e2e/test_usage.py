"""`/quota usage <alias> [today|7d|30d]` end to end: signed requests through the real ASGI app,
Ace Data Cloud's usage aggregate mocked with respx, the message at the response_url; the zone
the days are counted in; its Refresh button; bad input; every upstream failure."""

from __future__ import annotations

import gc
import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from bot.services.digests import set_schedule
from bot.services.schedules import Schedule
from bot.slack import blocks as bot_blocks
from bot.slack import ids
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    LINKS,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    BotClient,
    Reply,
    button_labels,
    find_button,
)
from tests.support.slack_server import TEAM_ID
from tests.support.usage import (
    STATUS_CODES,
    aggregate_route,
    asked,
    local_today,
    mock_failed_calls,
    mock_usage,
)

# A week of spend: 100 in all, seven APIs (two folded into "Others"), nothing five days ago.
WEEK = [
    (0, "mj-imagine", 31),
    (1, "mj-imagine", "31"),
    (2, "mj-describe", 30),
    (0, "mj-blend", 3.5),
    (0, "mj-upscale", "2"),
    (3, "gpt-4o", "1.5"),  # no title: shown by its id
    (4, "suno-audio", 0.6),
    (6, "mj-video", "0.4"),
]
USAGE_FORM = "Usage: `/quota usage &lt;alias&gt; [today|7d|30d]`"


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))


def posted_in_channel(bot: BotClient) -> list[dict[str, Any]]:
    """Every in-channel message sent to any response_url, and every chat.postMessage."""
    replies = [
        message
        for messages in bot.slack.responses.values()
        for message in messages
        if message.get("response_type") == "in_channel"
    ]
    return replies + [call.data for call in bot.slack.calls_to("chat.postMessage")]


# ---------------------------------------------------------------------------------------------
# the message


async def test_usage_shows_the_top_apis_others_each_day_and_the_failed_calls(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    route = mock_usage(acedata, WEEK)
    failed = mock_failed_calls(acedata, 41)

    reply = await bot.quota("usage prod", user=MEMBER)

    assert reply is not None and not reply.via_ack
    assert reply.response_type == "in_channel"
    text = reply.text
    assert reply.body["text"] == "prod: 100.00 Credits used in the last 7 days"
    assert reply.body["blocks"][0]["text"]["text"] == "Midjourney · prod — usage in the last 7 days"
    assert "*By API* · total 100.00 Credits" in text
    assert "1. *Midjourney Imagine* — 62.00 Credits (62 %)" in text
    assert "2. *Midjourney Describe* — 30.00 Credits (30 %)" in text
    assert "3. *Midjourney Blend* — 3.50 Credits (4 %)" in text
    assert "4. *Midjourney Upscale* — 2.00 Credits (2 %)" in text
    assert "5. *gpt-4o* — 1.50 Credits (1 %)" in text
    assert "*Others* (2 more APIs) — 1.00 Credits (1 %)" in text
    today = local_today()
    expected_days = {
        0: "36.50",
        1: "31.00",
        2: "30.00",
        3: "1.50",
        4: "0.60",
        5: "0",
        6: "0.40",
    }
    per_day = text.split("```")[1]
    lines = [line for line in per_day.splitlines() if line.strip()]
    assert len(lines) == 7
    for back, figure in expected_days.items():
        label = day_label(today - timedelta(days=back)) + (" (today)" if back == 0 else "")
        [line] = [line for line in lines if line.startswith(label + " ")]
        assert line.split()[-1] == figure, line
    assert day_label(today - timedelta(days=7)) not in per_day
    assert ":warning: 41 calls failed in this period" in text

    # Refresh and the console links.
    assert button_labels(reply.body["blocks"]) == ["Refresh", *LINKS]
    block, refresh = find_button(reply.body["blocks"], ids.USAGE_REFRESH_ACTION)
    assert block["block_id"] == ids.USAGE_ACTIONS_BLOCK
    assert ids.decode_usage(refresh["value"]) == ids.UsageTarget(alias="prod", period="7d")
    _, console = find_button(reply.body["blocks"], ids.CONSOLE_ACTION)
    assert (
        console["url"] == f"https://platform.acedata.cloud/console/usages?application_id={APP_ID}"
    )

    # What was asked: this application, the last 7 UTC days from midnight, once.
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.url.params["application_id"] == APP_ID
    assert request.url.params["timezone"] == "UTC"
    assert request.url.params["created_at_from"] == utc_iso(
        midnight(today - timedelta(days=6), "UTC")
    )
    assert failed.calls.last.request.url.params.get_list("status_code") == ["429", "500"]


async def test_today_and_thirty_days_cover_their_local_days(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    route = mock_usage(acedata, [(0, "mj-imagine", 5)])
    mock_failed_calls(acedata, 0)

    today = await bot.quota("usage prod today", user=MEMBER)
    month = await bot.quota("usage PROD 30D", user=MEMBER)

    assert today is not None and month is not None
    assert today.body["blocks"][0]["text"]["text"].endswith("usage today")
    assert "1. *Midjourney Imagine* — 5.00 Credits (100 %)" in today.text
    assert "No calls failed in this period." in today.text
    assert f"{day_label(local_today())} since midnight (UTC)" in today.text
    assert month.body["blocks"][0]["text"]["text"].endswith("usage in the last 30 days")
    assert len([line for line in month.text.split("```")[1].splitlines() if line.strip()]) == 30
    first, second = (call.request.url.params["created_at_from"] for call in route.calls)
    assert first == utc_iso(midnight(local_today(), "UTC"))
    assert second == utc_iso(midnight(local_today() - timedelta(days=29), "UTC"))


async def test_an_application_without_usage_says_so(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    mock_usage(acedata, [])
    mock_failed_calls(acedata, 0)

    reply = await linked.quota("usage prod", user=MEMBER)

    assert reply is not None and reply.response_type == "in_channel"
    assert "No usage in the last 7 days." in reply.text
    assert "Per day" not in reply.text
    assert reply.body["text"] == "prod: no usage in the last 7 days"


async def test_failed_calls_that_cannot_be_counted_are_left_out_and_logged_once(
    linked: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    mock_usage(acedata, WEEK)
    acedata.get(STATUS_CODES).respond(403, json={"detail": "no"})
    caplog.set_level(logging.INFO)

    first = await linked.quota("usage prod", user=MEMBER)
    second = await linked.quota("usage prod", user=MEMBER)

    for reply in (first, second):
        assert reply is not None and reply.response_type == "in_channel"
        assert "62.00 Credits (62 %)" in reply.text
        assert "failed" not in reply.text
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "failed calls could not be read" in r.getMessage()
    ]
    assert len(warned) == 1


# ---------------------------------------------------------------------------------------------
# the zone the days are counted in


async def test_the_days_are_the_channels_digest_zone_else_the_users_else_utc(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    route = aggregate_route(acedata).respond(json={"items": []})
    mock_failed_calls(acedata, 0)

    await bot.quota("usage prod", user=MEMBER)  # no digest here, no zone in Slack
    bot.slack.users[MEMBER]["tz"] = "America/New_York"
    await bot.quota("usage prod", user=MEMBER)
    assert bot.runtime is not None
    await set_schedule(
        bot.runtime.db,
        team_id=TEAM_ID,
        channel_id=CHANNEL,
        schedule=Schedule("daily", time(9, 0), ZoneInfo("Asia/Tokyo")),
        now=datetime.now(UTC),
        user_id=ADMIN,
    )
    reply = await bot.quota("usage prod today", user=MEMBER)

    assert asked(route, "timezone") == ["UTC", "America/New_York", "Asia/Tokyo"]
    tokyo = local_today("Asia/Tokyo")
    assert route.calls.last.request.url.params["created_at_from"] == utc_iso(
        midnight(tokyo, "Asia/Tokyo")
    )
    assert reply is not None and f"{day_label(tokyo)} since midnight (Asia/Tokyo)" in reply.text


# ---------------------------------------------------------------------------------------------
# Refresh


async def test_refresh_reads_again_and_replaces_the_message(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    route = mock_usage(acedata, WEEK)
    mock_failed_calls(acedata, 41)
    reply = await bot.quota("usage prod 30d", user=MEMBER)
    assert reply is not None
    mock_usage(acedata, [(0, "mj-describe", 8), (1, "mj-imagine", 2)])

    key = await bot.press(reply.body, ids.USAGE_REFRESH_ACTION, user=ADMIN)
    replaced = await bot.slack.wait_for_response(key)
    await bot.settle()

    assert replaced["replace_original"] is True
    assert replaced["response_type"] == "in_channel"
    refreshed = Reply(replaced, via_ack=False).text
    assert "1. *Midjourney Describe* — 8.00 Credits (80 %)" in refreshed
    assert "2. *Midjourney Imagine* — 2.00 Credits (20 %)" in refreshed
    assert "usage in the last 30 days" in refreshed  # the period pressed
    assert route.call_count == 2
    assert bot.slack.responses[key] == [replaced]  # nothing said besides
    assert not bot.slack.calls_to("chat.update")


async def test_refresh_on_a_message_the_bot_posted_uses_chat_update(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    mock_usage(acedata, WEEK)
    mock_failed_calls(acedata, 0)
    reply = await bot.quota("usage prod", user=MEMBER)
    assert reply is not None
    posted = json.loads(json.dumps(reply.body))
    for block in posted["blocks"]:
        if block.get("block_id") == ids.USAGE_ACTIONS_BLOCK:
            block["block_id"] = f"{ids.USAGE_ACTIONS_BLOCK}:message"

    key = await bot.press(posted, ids.USAGE_REFRESH_ACTION, user=MEMBER, message_ts="17.5")
    update = await bot.slack.wait_for_call("chat.update")
    await bot.settle()

    assert (update.data["channel"], update.data["ts"]) == (CHANNEL, "17.5")
    assert "Midjourney Imagine" in json.dumps(update.data["blocks"])
    assert bot.slack.responses.get(key, []) == []


async def test_a_forged_refresh_naming_another_channels_alias_reads_nothing(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    mock_usage(acedata, WEEK)
    mock_failed_calls(acedata, 0)
    await bot.quota(f"link secret {OTHER_APP_ID}", user=ADMIN, channel=OTHER_CHANNEL)
    secret = mock_usage(acedata, WEEK, app_id=OTHER_APP_ID)
    reply = await bot.quota("usage prod", user=MEMBER)
    assert reply is not None
    forged = ids.encode(ids.UsageTarget(alias="secret", period="7d"))

    key = await bot.press(reply.body, ids.USAGE_REFRESH_ACTION, user=MEMBER, value=forged)
    said = await bot.slack.wait_for_response(key)
    await bot.settle()

    assert said["response_type"] == "ephemeral"
    assert said["replace_original"] is False
    assert "*secret* is not an alias in this channel or workspace" in said["text"]
    assert secret.call_count == 0
    assert len(posted_in_channel(bot)) == 1  # the first message only


async def test_a_refresh_from_another_workspace_reads_nothing(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    route = mock_usage(acedata, WEEK)
    mock_failed_calls(acedata, 0)
    reply = await bot.quota("usage prod", user=MEMBER)
    assert reply is not None
    other = bot.as_team("T0002")

    payload, key = bot.action_payload(
        reply.body, ids.USAGE_REFRESH_ACTION, user=MEMBER, team="T0002"
    )
    status, body = await other.post_form({"payload": json.dumps(payload)})
    await bot.settle()

    assert (status, body) == (200, "")
    assert route.call_count == 1
    assert len(posted_in_channel(bot)) == 1  # the first message, not replaced
    assert [m.get("text") for m in bot.slack.responses.get(key, [])] in (
        [],
        [bot_blocks.OTHER_WORKSPACE],
    )


@pytest.mark.parametrize(
    "value",
    ["garbage", '{"alias":"prod","period":"9y"}', '{"alias":"<!channel>","period":"7d"}', ""],
)
async def test_a_garbled_refresh_value_is_refused_privately(
    linked: BotClient, acedata: respx.MockRouter, value: str
) -> None:
    bot = linked
    route = mock_usage(acedata, WEEK)
    mock_failed_calls(acedata, 0)
    reply = await bot.quota("usage prod", user=MEMBER)
    assert reply is not None

    key = await bot.press(reply.body, ids.USAGE_REFRESH_ACTION, user=MEMBER, value=value)
    said = await bot.slack.wait_for_response(key)

    assert said["text"] == bot_blocks.INVALID_BUTTON
    assert said["replace_original"] is False
    assert route.call_count == 1


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("usage", "Missing the alias for `usage`."),
        ("usage prod 9y", "`9y` is not a period: use `today`, `7d` or `30d`."),
        ("usage prod 7d extra", "Unexpected extra text: `extra`."),
    ],
)
async def test_bad_forms_get_the_right_form_privately(
    linked: BotClient, acedata: respx.MockRouter, text: str, problem: str
) -> None:
    route = mock_usage(acedata, WEEK)
    reply = await linked.quota(text, user=MEMBER)
    await linked.settle()

    assert reply is not None and reply.via_ack
    assert reply.response_type == "ephemeral"
    assert problem in reply.text
    assert USAGE_FORM in reply.text
    assert route.call_count == 0
    assert posted_in_channel(linked) == []


async def test_an_unknown_alias_is_said_privately(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    route = mock_usage(acedata, WEEK)
    reply = await linked.quota("usage nope", user=MEMBER)
    # Linked in another channel only: not visible here.
    elsewhere = await linked.quota("usage prod", user=MEMBER, channel=OTHER_CHANNEL)

    for said, name in ((reply, "nope"), (elsewhere, "prod")):
        assert said is not None and said.response_type == "ephemeral"
        assert f"There is no alias *{name}* here." in said.text
    assert route.call_count == 0
    assert posted_in_channel(linked) == []


# ---------------------------------------------------------------------------------------------
# Ace Data Cloud failing


FAILURES = {
    "401": (
        httpx.Response(401, json={"detail": "Invalid token."}),
        "The Ace Data Cloud token for this workspace was rejected",
    ),
    "403": (
        httpx.Response(403, json={"detail": "Forbidden."}),
        f"has no access to application `{APP_ID}` (*prod*)",
    ),
    "404": (
        httpx.Response(404, json={"detail": "Not found."}),
        f"Ace Data Cloud has no application `{APP_ID}` for this account",
    ),
    "429": (
        httpx.Response(429, headers={"retry-after": "120"}, json={"detail": "Slow down."}),
        "Ace Data Cloud is rate-limiting requests right now; try again in 120 s.",
    ),
    "500": (
        httpx.Response(500, json={"detail": "Boom."}),
        "Ace Data Cloud had a problem answering for *prod* (HTTP 500)",
    ),
    "malformed": (
        httpx.Response(200, json={"total": 3, "items": [{"date": "yesterday", "amount": 3}]}),
        "Ace Data Cloud sent an answer for *prod* that the bot could not read",
    ),
    "not json": (
        httpx.Response(200, text="<html>gateway</html>"),
        "Ace Data Cloud sent an answer for *prod* that the bot could not read",
    ),
    "timeout": (
        httpx.ConnectTimeout("too slow"),
        "Ace Data Cloud did not answer in time for *prod*",
    ),
}


@pytest.mark.parametrize("failure", FAILURES, ids=FAILURES.keys())
async def test_each_upstream_failure_is_a_private_sentence_and_nothing_is_posted(
    linked: BotClient, acedata: respx.MockRouter, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    outcome, sentence = FAILURES[failure]
    route = aggregate_route(acedata)
    if isinstance(outcome, Exception):
        route.mock(side_effect=outcome)
    else:
        route.mock(return_value=outcome)
    mock_failed_calls(acedata, 3)

    reply = await linked.quota("usage prod", user=MEMBER)
    await linked.settle()

    assert reply is not None
    assert reply.response_type == "ephemeral"
    assert sentence in reply.text
    assert posted_in_channel(linked) == []
    assert route.call_count >= 1
    gc.collect()  # reads given up on are reported when collected, if nobody awaited them
    assert "never retrieved" not in caplog.text


async def test_upstream_failure_on_refresh_leaves_the_message_and_says_why(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    mock_usage(acedata, WEEK)
    mock_failed_calls(acedata, 0)
    reply = await bot.quota("usage prod", user=MEMBER)
    assert reply is not None
    aggregate_route(acedata).respond(429, headers={"retry-after": "30"})

    key = await bot.press(reply.body, ids.USAGE_REFRESH_ACTION, user=MEMBER)
    said = await bot.slack.wait_for_response(key)
    await bot.settle()

    assert said["response_type"] == "ephemeral" and said["replace_original"] is False
    assert "try again in 30 s" in said["text"]
    assert bot.slack.responses[key] == [said]
    assert not bot.slack.calls_to("chat.update")
