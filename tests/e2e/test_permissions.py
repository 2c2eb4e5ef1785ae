"""Only bot admins change things; members get a clear refusal and nothing changes."""

from __future__ import annotations

import pytest
import respx
from sqlalchemy import Engine

from bot.slack.ids import TOKEN_ACTION, TOKEN_BLOCK, TOKEN_MODAL_CALLBACK
from tests.support.client import (
    ADMIN,
    APP_ID,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    BotClient,
    table_rows,
    token_value,
)

MEMBER_ATTEMPTS = {
    "set the token": ("token", "Only bot admins can set the Ace Data Cloud token"),
    "link": (f"link mine {OTHER_APP_ID}", "Only bot admins can link aliases"),
    "link workspace": (f"link mine {OTHER_APP_ID} --workspace", "Only bot admins can link"),
    "unlink": ("unlink prod", "Only bot admins can unlink aliases"),
    "raw id": (APP_ID, "Only bot admins can look up an application by its ID"),
    "add admin": (f"admins add <@{MEMBER}|bob>", "Only bot admins can change bot admins"),
    "remove admin": (f"admins remove <@{LISTED_ADMIN}|carol>", "Only bot admins can change"),
}


@pytest.mark.parametrize(("text", "expected"), MEMBER_ATTEMPTS.values(), ids=MEMBER_ATTEMPTS.keys())
async def test_member_is_refused_and_nothing_changes(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, text: str, expected: str
) -> None:
    before, calls_before = table_rows(db), len(acedata.calls)
    modals_before = len(linked.slack.calls_to("views.open"))

    reply = await linked.quota(text, user=MEMBER)

    assert reply.response_type == "ephemeral"
    assert expected in reply.text
    assert "/quota admins add @user" in reply.text
    assert table_rows(db) == before
    assert len(acedata.calls) == calls_before
    assert len(linked.slack.calls_to("views.open")) == modals_before


async def test_member_cannot_submit_the_token_modal_directly(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    before, calls_before = table_rows(db), len(acedata.calls)
    answer = await linked.submit_view(
        TOKEN_MODAL_CALLBACK,
        {TOKEN_BLOCK: {TOKEN_ACTION: token_value(PLATFORM_TOKEN[:-4] + "beef")}},
        user=MEMBER,
    )
    assert answer["response_action"] == "errors"
    assert "Only bot admins" in answer["errors"][TOKEN_BLOCK]
    assert table_rows(db) == before
    assert len(acedata.calls) == calls_before


async def test_listed_admin_may_link(linked: BotClient) -> None:
    reply = await linked.quota(f"link other {OTHER_APP_ID}", user=LISTED_ADMIN)
    assert "*other* now points to Suno" in reply.text


@pytest.mark.parametrize("flag", ["is_owner", "is_primary_owner", "is_admin"])
async def test_slack_owners_and_admins_are_bot_admins(linked: BotClient, flag: str) -> None:
    linked.slack.users["UOWNER"] = {"name": "olga", flag: True}
    reply = await linked.quota(f"link other {OTHER_APP_ID}", user="UOWNER")
    assert "*other* now points to" in reply.text


@pytest.mark.parametrize("error", ["ratelimited", "internal_error", "fatal_error"])
async def test_user_lookup_failure_says_slack_could_not_confirm_the_role(
    linked: BotClient, db: Engine, error: str
) -> None:
    linked.slack.failures["users.info"] = error
    before = table_rows(db)
    reply = await linked.quota(f"link other {OTHER_APP_ID}", user=ADMIN)
    assert "Slack could not confirm your role right now" in reply.text
    assert f"`{error}`" in reply.text
    assert "Only bot admins" not in reply.text
    assert table_rows(db) == before


async def test_user_slack_does_not_know_is_no_admin(linked: BotClient, db: Engine) -> None:
    linked.slack.failures["users.info"] = "user_not_found"
    reply = await linked.quota(f"link other {OTHER_APP_ID}", user="UGHOST")
    assert "Only bot admins can link aliases" in reply.text


async def test_removed_admin_loses_rights(linked: BotClient) -> None:
    removed = await linked.quota(f"admins remove <@{LISTED_ADMIN}|carol>", user=ADMIN)
    assert f"<@{LISTED_ADMIN}> is no longer a listed bot admin" in removed.text
    reply = await linked.quota(f"link other {OTHER_APP_ID}", user=LISTED_ADMIN)
    assert "Only bot admins can link aliases" in reply.text


async def test_anyone_can_see_who_the_admins_are(linked: BotClient) -> None:
    reply = await linked.quota("admins", user=MEMBER)
    assert f"Bot admins: <@{LISTED_ADMIN}>." in reply.text
    assert "Slack workspace admins and owners are always bot admins" in reply.text


async def test_adding_an_admin_twice_says_so(linked: BotClient, db: Engine) -> None:
    before = table_rows(db)
    reply = await linked.quota(f"admins add <@{LISTED_ADMIN}>", user=ADMIN)
    assert "was already a bot admin" in reply.text
    assert table_rows(db) == before
