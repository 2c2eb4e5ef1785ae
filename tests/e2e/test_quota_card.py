"""Admin links an alias; any member's `/quota <alias>` shows the live quota card."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import respx
from sqlalchemy import Engine, text

from tests.support.client import (
    ADMIN,
    APP_ID,
    GLOBAL_APP_ID,
    LINKS,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    PLATFORM_TOKEN,
    BotClient,
    application,
    button_labels,
    find_button,
    mock_quota,
    set_platform_token,
)


async def test_member_sees_card_for_alias_an_admin_linked(
    bot: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    linked = await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    assert linked.response_type == "ephemeral"
    assert "*prod* now points to Midjourney" in linked.text

    card = await bot.quota("prod", user=MEMBER)

    assert card.response_type == "in_channel"
    assert "Midjourney · prod" in card.text
    assert "493.22 Credits" in card.text
    assert "493.221" not in card.text
    assert "21.78 Credits" in card.text
    assert "95.8%" in card.text  # 493.221 / (493.221 + 21.779)
    assert "*Global fallback*\nOFF" in card.text
    assert "*Global balance*\n1,234.50 Credits" in card.text
    assert "as of <!date^" in card.text
    request = acedata.calls.last.request
    assert request.headers["authorization"].startswith("Bearer platform-v1-")
    assert request.headers["accept"] == "application/json"


async def test_amounts_sent_as_strings_are_read(bot: BotClient, acedata: respx.MockRouter) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata, remaining="50.00", used="150.00", allow=True, global_remaining="7")
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)

    card = await bot.quota("prod", user=MEMBER)

    assert "50.00 Credits" in card.text
    assert "150.00 Credits" in card.text
    assert "25.0%" in card.text
    assert "*Global fallback*\nON" in card.text
    assert "*Global balance*\n7.00 Credits" in card.text


async def test_card_still_shows_when_global_balance_is_unreadable(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    acedata.get("/applications/", params__contains={"scope": "Global"}).respond(500)

    card = await bot.quota("prod", user=MEMBER)

    assert card.response_type == "in_channel"
    assert "493.22 Credits" in card.text
    assert "*Global balance*\nunavailable" in card.text


async def test_channel_alias_shadows_workspace_alias(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata, APP_ID, title="Midjourney")
    mock_quota(acedata, OTHER_APP_ID, title="Suno", remaining=10)
    await bot.quota(f"link prod {APP_ID} --workspace", user=ADMIN)
    await bot.quota(f"link prod {OTHER_APP_ID}", user=ADMIN)
    await bot.quota(f"link music {OTHER_APP_ID} --workspace", user=ADMIN)

    here = await bot.quota("prod", user=MEMBER)
    elsewhere = await bot.quota("prod", user=MEMBER, channel=OTHER_CHANNEL)

    assert "Suno · prod" in here.text
    assert "Midjourney · prod" in elsewhere.text

    listing = await bot.quota("", user=MEMBER)
    assert listing.response_type == "ephemeral"
    assert "*music* (workspace) — Suno: 10.00 Credits left" in listing.text
    assert "*prod* (channel) — Suno: 10.00 Credits left" in listing.text
    assert "*prod* (workspace)" not in listing.text

    other_listing = await bot.quota("list", user=MEMBER, channel=OTHER_CHANNEL)
    assert "*prod* (workspace) — Midjourney: 493.22 Credits left" in other_listing.text
    assert "(channel)" not in other_listing.text


async def test_list_marks_unreadable_alias_and_keeps_the_rest(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata, APP_ID)
    mock_quota(acedata, OTHER_APP_ID)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    await bot.quota(f"link gone {OTHER_APP_ID}", user=ADMIN)
    acedata.get(f"/applications/{OTHER_APP_ID}").respond(404, json={"detail": "Not found."})

    listing = await bot.quota("list", user=MEMBER)

    assert "*prod* (channel) — Midjourney: 493.22 Credits left" in listing.text
    assert f"*gone* (channel) — `{OTHER_APP_ID}`: Ace Data Cloud has no application" in listing.text


async def test_empty_list_says_how_to_link(bot: BotClient) -> None:
    listing = await bot.quota("list", user=MEMBER)
    assert "No aliases are linked" in listing.text
    assert "/quota link &lt;alias&gt; &lt;application-id&gt;" in listing.text


async def test_admin_can_look_up_raw_application_id(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    card = await bot.quota(APP_ID.upper(), user=ADMIN)
    assert card.response_type == "in_channel"
    assert "493.22 Credits" in card.text
    assert GLOBAL_APP_ID not in card.text


async def test_without_any_token_the_reply_points_to_quota_token(
    bot: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    _link_directly(db)
    reply = await bot.quota("prod", user=MEMBER)
    assert reply.response_type == "ephemeral"
    assert "No Ace Data Cloud token is set" in reply.text
    assert "/quota token" in reply.text
    assert not acedata.calls


@pytest.mark.parametrize("settings_overrides", [{"acedata_platform_token": PLATFORM_TOKEN}])
async def test_operator_token_serves_a_workspace_without_its_own(
    bot: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    _link_directly(db)
    mock_quota(acedata)
    card = await bot.quota("prod", user=MEMBER)
    assert "493.22 Credits" in card.text
    assert acedata.calls.last.request.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}"


def _link_directly(db: Engine) -> None:
    with db.begin() as connection:
        connection.execute(
            text("INSERT INTO workspaces (team_id, created_at) VALUES ('T0001', CURRENT_TIMESTAMP)")
        )
        connection.execute(
            text(
                "INSERT INTO aliases (team_id, channel_id, name, application_id, created_by, "
                "created_at) VALUES ('T0001', NULL, 'prod', :app, 'UADMIN', CURRENT_TIMESTAMP)"
            ),
            {"app": APP_ID},
        )


async def test_alias_case_is_ignored(bot: BotClient, acedata: respx.MockRouter) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link Prod {APP_ID}", user=ADMIN)
    card = await bot.quota("PROD", user=MEMBER)
    assert "Midjourney · prod" in card.text


async def test_service_title_is_escaped(bot: BotClient, acedata: respx.MockRouter) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata, title="<!channel> & <https://evil.test|click>")
    linked = await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    card = await bot.quota("prod", user=MEMBER)

    assert "&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;" in linked.text
    for reply in (linked, card):
        mrkdwn = json.dumps([reply.body["text"], *reply.mrkdwn])
        assert "<!channel>" not in mrkdwn
        assert "<https://evil.test" not in mrkdwn
    # A header is plain text, which Slack never parses for mentions or links.
    assert card.body["blocks"][0]["text"]["type"] == "plain_text"


async def test_odd_fields_the_card_does_not_need_do_not_break_it(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    odd = application(remaining=1e26, used=None) | {
        "service": "midjourney",
        "expired_at": "",
        "created_at": "yesterday",
        "allow_consume_global": "sometimes",
        "unexpected": {"nested": [1, 2]},
    }
    acedata.get(f"/applications/{APP_ID}").respond(json=odd)

    card = await bot.quota("prod", user=MEMBER)

    assert card.response_type == "in_channel"
    assert "Application · prod" in card.text
    assert "100,000,000,000,000,000,000,000,000.00 Credits" in card.text
    assert "*Used*\n0.00 Credits" in card.text
    assert "*Global fallback*\nunknown" in card.text
    assert button_labels(card.body["blocks"]) == [
        "Enable global fallback",
        "Disable global fallback",
        "Refresh",
        *LINKS,
    ]


async def test_a_card_slack_answers_with_a_5xx_is_sent_once_more(linked: BotClient) -> None:
    fields = linked.command_fields("prod", user=MEMBER)
    key = fields["response_url"].rsplit("/", 1)[1]
    linked.slack.response_statuses[key] = [500]

    status, _ = await linked.post_form(fields)
    card = await linked.slack.wait_for_response(key)

    assert status == 200
    assert card["response_type"] == "in_channel"
    assert "493.22 Credits" in json.dumps(card["blocks"])
    assert len(linked.slack.refused_responses[key]) == 1


async def test_a_card_slack_refuses_is_logged_with_its_context(
    linked: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    fields = linked.command_fields("prod", user=MEMBER)
    key = fields["response_url"].rsplit("/", 1)[1]
    linked.slack.response_statuses[key] = [404, 404]

    await linked.post_form(fields)
    await _wait_until(lambda: "Could not deliver" in caplog.text)

    assert (
        "Could not deliver the quota card for prod team=T0001 channel=C0001 user=UMEMBER: "
        "HTTP 404" in caplog.text
    )
    assert len(linked.slack.refused_responses[key]) == 1  # a 4xx is not worth a retry
    assert key not in linked.slack.responses


async def test_absurd_amounts_read_as_unreadable_and_the_rest_is_shown(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    acedata.get(f"/applications/{APP_ID}").respond(
        json=application(remaining=1e200, used="inf", title="T" * 300)
        | {"service": {"title": "<!channel> " + "T" * 300, "unit": "U&" * 150}}
    )
    acedata.get("/applications/", params__contains={"scope": "Global"}).respond(
        json={"count": 1, "items": [application(GLOBAL_APP_ID, remaining="NaN", scope="Global")]}
    )

    card = await linked.quota("prod", user=MEMBER)

    assert card.response_type == "in_channel"
    assert "*Remaining*\nunreadable" in card.text
    assert "*Used*\nunreadable" in card.text
    assert "*Left*\nn/a" in card.text
    assert "*Global balance*\nunreadable" in card.text
    assert "*Global fallback*\nOFF" in card.text
    assert len(card.body["blocks"][0]["text"]["text"]) <= 150
    _, enable = find_button(card.body["blocks"], "quota_card_toggle_fallback")
    assert "confirm" not in enable  # the Enable dialog states the consequence
    assert "<!channel>" not in json.dumps(card.mrkdwn)


async def _wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_the_card_links_to_the_console_and_its_link_presses_are_only_acknowledged(
    linked: BotClient,
) -> None:
    card = await linked.quota("prod", user=MEMBER)
    assert card is not None
    links = {
        element["text"]["text"]: element["url"]
        for block in card.body["blocks"]
        for element in block.get("elements", [])
        if element.get("url")
    }
    assert links == {
        "Open in console": f"https://platform.acedata.cloud/console/usages?application_id={APP_ID}",
        "Top up": f"https://platform.acedata.cloud/console/applications/{APP_ID}/extra",
    }
    linked.slack.calls.clear()

    key = await linked.press(card.body, "quota_link_console", user=MEMBER, value="")
    await linked.settle()

    assert linked.slack.responses.get(key, []) == []
    assert linked.slack.calls == []
