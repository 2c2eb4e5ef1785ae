"""Two-person approval: with `/quota policy approval on`, an admin's *Enable global fallback*
posts a request that another admin approves or rejects; the requester cannot approve it, it
expires, and each request is decided once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import respx
from sqlalchemy import Engine, text

from bot.config import Settings
from bot.slack.ids import APPROVE_ACTION, REJECT_ACTION, TOGGLE_ACTION
from bot.slack.install.tokens import SlackAccess
from bot.worker import guard_round
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    LISTED_ADMIN,
    MEMBER,
    BotClient,
    FakeApplication,
    blocks_of,
    button_labels,
    set_platform_token,
    table_rows,
)
from tests.support.home import open_home, published
from tests.support.server import serve
from tests.support.slack_server import TEAM_ID, SlackServer

MESSAGE_TS = "1700000000.000100"
REQUEST_TS = "1700000000.000200"  # every message the stand-in takes gets this ts
SECOND_ADMIN = "USECOND"


@pytest.fixture
async def fake_app(linked: BotClient, acedata: respx.MockRouter) -> FakeApplication:
    linked.slack.users[SECOND_ADMIN] = {"name": "dora", "is_admin": True}
    return FakeApplication(acedata)


@pytest.fixture
async def approval_on(linked: BotClient, fake_app: FakeApplication) -> BotClient:
    said = await linked.quota("policy approval on", user=ADMIN)
    assert said is not None and "Two-person approval is now on" in said.text
    return linked


async def card_for(bot: BotClient) -> dict[str, Any]:
    reply = await bot.quota("prod", user=MEMBER)
    assert reply is not None
    return reply.body


async def ask(bot: BotClient, duration: str = "4h", user: str = ADMIN) -> dict[str, Any]:
    """Press Enable as `user` and submit the dialog: the approval request as posted."""
    posted = len(bot.slack.calls_to("chat.postMessage"))
    key = await bot.press_switch(await card_for(bot), TOGGLE_ACTION, user=user, duration=duration)
    said = await bot.slack.wait_for_response(key)
    assert said["text"].startswith(":raised_hand: Asked for approval"), said["text"]
    call = bot.slack.calls_to("chat.postMessage")[posted]
    return {"text": call.data["text"], "blocks": blocks_of(call), "call": call}


async def press(bot: BotClient, request: dict[str, Any], action: str, user: str) -> str:
    await bot.press(request, action, user=user, message_ts=REQUEST_TS)
    await bot.settle()
    return user


def requests(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT requester_id, status, decided_by, duration FROM fallback_requests")
            )
        ]


def audit(db: Engine, action: str) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT user_id, outcome, detail FROM audit_events WHERE action = :action "
                    "ORDER BY id"
                ),
                {"action": action},
            )
        ]


def last_response(bot: BotClient) -> str:
    latest = max(bot.slack.responses.items(), key=lambda item: item[0])
    return str(latest[1][-1]["text"])


async def private_answer(bot: BotClient, request: dict[str, Any], action: str, user: str) -> str:
    key = await bot.press(request, action, user=user, message_ts=REQUEST_TS)
    return str((await bot.slack.wait_for_response(key))["text"])


async def test_the_policy_is_shown_to_anyone_and_changed_by_admins_only(
    linked: BotClient, db: Engine
) -> None:
    shown = await linked.quota("policy", user=MEMBER)
    assert shown is not None and shown.text.startswith("*Two-person approval is off.*")
    refused = await linked.quota("policy approval on", user=MEMBER)
    assert refused is not None and "admin" in refused.text
    assert audit(db, "approval_policy") == []

    changed = await linked.quota("policy approval on", user=ADMIN)
    again = await linked.quota("policy approval on", user=LISTED_ADMIN)
    shown = await linked.quota("policy", user=MEMBER)

    assert changed is not None and changed.text.startswith(":busts_in_silhouette: Two-person")
    assert again is not None and again.text == (
        "Two-person approval was already on. Nothing was changed."
    )
    assert shown is not None and "*Two-person approval is on.*" in shown.text
    assert "a request expires after 1 hour" in shown.text
    assert [row[:2] for row in audit(db, "approval_policy")] == [
        (ADMIN, "changed"),
        (LISTED_ADMIN, "unchanged"),
    ]
    usage = await linked.quota("policy approval maybe", user=ADMIN)
    assert usage is not None and "/quota policy [approval on|off]" in usage.text


async def test_enable_asks_another_admin_and_nothing_changes_until_approved(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    dialogs = len(bot.slack.calls_to("views.open"))
    request = await ask(bot, "4h")

    view = bot.slack.calls_to("views.open")[dialogs].data["view"]
    assert view["submit"]["text"] == "Ask for approval"
    assert "another admin must approve this in the thread within 1 hour" in json.dumps(view)
    assert request["text"] == (
        f"<@{ADMIN}> asks to enable global fallback for *prod* for 4 hours — "
        "General Balance 1,234.50 Credits"
    )
    assert request["call"].data["channel"] == CHANNEL
    assert request["call"].data["thread_ts"] == MESSAGE_TS
    assert button_labels(request["blocks"]) == ["Approve", "Reject"]
    assert fake_app.posts == []
    assert requests(db) == [(ADMIN, "pending", None, "4h")]


async def test_another_admin_approves_and_both_people_are_recorded(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot, "4h")
    before = datetime.now(UTC)

    await press(bot, request, APPROVE_ACTION, LISTED_ADMIN)

    assert fake_app.posts == [{"allow_consume_global": True}]
    assert requests(db) == [(ADMIN, "approved", LISTED_ADMIN, "4h")]
    decided = bot.slack.calls_to("chat.update")[-1]
    assert decided.data["ts"] == REQUEST_TS
    assert f":white_check_mark: Approved by <@{LISTED_ADMIN}>" in decided.data["text"]
    assert button_labels(blocks_of(decided)) == []
    note = bot.slack.calls_to("chat.postMessage")[-1]
    assert note.data["thread_ts"] == MESSAGE_TS
    assert note.data["text"].startswith(
        f"<@{ADMIN}> enabled global fallback for *prod* (was off) until <!date^"
    )
    assert note.data["text"].endswith(
        f"(Quota Bot switches it back off then), approved by <@{LISTED_ADMIN}>"
    )
    [(user, outcome, detail)] = audit(db, "fallback")
    assert (user, outcome) == (ADMIN, "changed")
    assert detail.startswith(f"approved by {LISTED_ADMIN}; until ")
    with db.connect() as connection:
        off_at = connection.execute(text("SELECT off_at FROM fallback_timers")).scalar_one()
    off_at = off_at if isinstance(off_at, datetime) else datetime.fromisoformat(str(off_at))
    off_at = off_at if off_at.tzinfo else off_at.replace(tzinfo=UTC)
    assert before + timedelta(hours=4) - timedelta(minutes=1) < off_at
    assert off_at < before + timedelta(hours=4, minutes=1)
    assert [row[:2] for row in audit(db, "fallback_request")] == [
        (ADMIN, "requested"),
        (LISTED_ADMIN, "approved"),
    ]


async def test_the_requester_cannot_approve_their_own_request_from_any_client(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    keys = await asyncio.gather(
        *(bot.press(request, APPROVE_ACTION, user=ADMIN, message_ts=REQUEST_TS) for _ in "ab")
    )
    answers = [await bot.slack.wait_for_response(key) for key in keys]

    assert {answer["text"] for answer in answers} == {
        "You asked for this one: another admin has to approve it. (*Reject* withdraws it.)"
    }
    assert fake_app.posts == []
    assert requests(db) == [(ADMIN, "pending", None, "4h")]


async def test_a_member_cannot_approve_or_reject(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    before = table_rows(db)
    for action in (APPROVE_ACTION, REJECT_ACTION):
        said = await private_answer(bot, request, action, MEMBER)
        assert "admin" in said and "global fallback request" in said
    assert fake_app.posts == []
    assert table_rows(db) == before


async def test_two_admins_approving_at_once_switch_once(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    keys = await asyncio.gather(
        bot.press(request, APPROVE_ACTION, user=LISTED_ADMIN, message_ts=REQUEST_TS),
        bot.press(request, APPROVE_ACTION, user=SECOND_ADMIN, message_ts=REQUEST_TS),
    )
    await bot.settle()

    assert fake_app.posts == [{"allow_consume_global": True}]
    [(_, status, decided_by, _)] = requests(db)
    assert status == "approved" and decided_by in (LISTED_ADMIN, SECOND_ADMIN)
    told = [bot.slack.responses.get(key, []) for key in keys]
    assert sorted(len(answers) for answers in told) == [0, 1]
    (answer,) = [answers[0]["text"] for answers in told if answers]
    assert (
        answer == f"This request was already approved by <@{decided_by}>. Nothing else was changed."
    )


async def test_rejected_and_withdrawn_requests_change_nothing(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    await press(bot, request, REJECT_ACTION, LISTED_ADMIN)
    rejected = bot.slack.calls_to("chat.update")[-1].data["text"]
    late = await private_answer(bot, request, APPROVE_ACTION, SECOND_ADMIN)

    second = await ask(bot)
    await press(bot, second, REJECT_ACTION, ADMIN)
    withdrawn = bot.slack.calls_to("chat.update")[-1].data["text"]

    assert f":no_entry_sign: Rejected by <@{LISTED_ADMIN}>. Nothing was changed." in rejected
    assert (
        late == f"This request was already rejected by <@{LISTED_ADMIN}>. Nothing else was changed."
    )
    assert f"Withdrawn by <@{ADMIN}>. Nothing was changed." in withdrawn
    assert fake_app.posts == []
    assert [row[1] for row in requests(db)] == ["rejected", "rejected"]


async def test_a_second_request_while_one_waits_is_refused(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    await ask(bot)
    key = await bot.press_switch(await card_for(bot), TOGGLE_ACTION, user=LISTED_ADMIN)
    said = await bot.slack.wait_for_response(key)
    assert said["text"].startswith(
        "A request to enable global fallback for *prod* is already waiting for approval "
        f"(from <@{ADMIN}>"
    )
    assert len(requests(db)) == 1


async def test_an_expired_request_says_so_and_cannot_be_approved(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    with db.begin() as connection:
        connection.execute(
            text("UPDATE fallback_requests SET expires_at = :past"),
            {"past": datetime.now(UTC) - timedelta(seconds=1)},
        )

    said = await private_answer(bot, request, APPROVE_ACTION, LISTED_ADMIN)
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    handled = await asyncio.gather(
        guard_round(bot.runtime, access, now=datetime.now(UTC)),
        guard_round(bot.runtime, access, now=datetime.now(UTC)),
    )

    assert said.startswith(":hourglass: This request has expired; nothing was changed.")
    assert sorted(handled) == [0, 1]  # two workers: expired once
    expired = [call for call in bot.slack.calls_to("chat.update") if "Expired" in call.data["text"]]
    assert len(expired) == 1 and expired[0].data["ts"] == REQUEST_TS
    assert ":hourglass: Expired: nobody approved it in time." in expired[0].data["text"]
    assert fake_app.posts == []
    assert [row[1] for row in requests(db)] == ["expired"]


@pytest.mark.parametrize(
    "value",
    ['{"request":"00000000000000000000000000000000"}', '{"request":"../etc"}', "garbage"],
    ids=["unknown id", "malformed id", "garbage"],
)
async def test_forged_approve_values_change_nothing(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine, value: str
) -> None:
    bot = approval_on
    request = await ask(bot)
    before = table_rows(db)
    key = await bot.press(
        request, APPROVE_ACTION, user=LISTED_ADMIN, message_ts=REQUEST_TS, value=value
    )
    said = (await bot.slack.wait_for_response(key))["text"]

    if value.startswith('{"request":"0'):
        assert said == (
            "This is not a request Quota Bot knows in this workspace. Nothing was changed."
        )
    else:
        assert "button" in said.lower()
    assert fake_app.posts == []
    assert table_rows(db) == before


async def test_disabling_never_needs_approval(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    fake_app.allow = True
    key = await bot.press_switch(await card_for(bot), TOGGLE_ACTION, user=ADMIN)
    await bot.slack.wait_for_response(key)

    assert fake_app.posts == [{"allow_consume_global": False}]
    assert requests(db) == []
    assert [row[1] for row in audit(db, "fallback")] == ["changed"]


async def test_a_request_that_cannot_be_posted_is_withdrawn_and_said(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    bot.slack.channel_failures[CHANNEL] = "not_in_channel"
    key = await bot.press_switch(await card_for(bot), TOGGLE_ACTION, user=ADMIN)
    said = (await bot.slack.wait_for_response(key))["text"]

    assert "could not be posted here (Slack said `not_in_channel`)" in said
    assert [row[1] for row in requests(db)] == ["withdrawn"]
    assert fake_app.posts == []


async def test_an_approval_whose_alias_moved_meanwhile_is_not_carried_out(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    await bot.quota("unlink prod", user=ADMIN)

    said = await private_answer(bot, request, APPROVE_ACTION, LISTED_ADMIN)

    assert "prod" in said
    assert fake_app.posts == []
    assert [row[1] for row in requests(db)] == ["failed"]
    shown = bot.slack.calls_to("chat.update")[-1].data["text"]
    assert f"Approved by <@{LISTED_ADMIN}>, but the switch was not made" in shown


async def test_requests_of_another_workspace_are_not_this_ones(
    approval_on: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    bot = approval_on
    request = await ask(bot)
    with db.begin() as connection:  # the request moved to another workspace
        connection.execute(
            text(
                "INSERT INTO workspaces (team_id, created_at, approval_required) VALUES "
                "('T0OTHER', :now, :no)"
            ),
            {"now": datetime.now(UTC), "no": False},
        )
        connection.execute(text("UPDATE fallback_requests SET team_id = 'T0OTHER'"))
    said = await private_answer(bot, request, APPROVE_ACTION, LISTED_ADMIN)

    assert said == "This is not a request Quota Bot knows in this workspace. Nothing was changed."
    assert fake_app.posts == []
    assert [row[1] for row in requests(db)] == ["pending"]
    assert TEAM_ID != "T0OTHER"


async def test_the_admins_home_shows_the_policy_and_what_waits(
    approval_on: BotClient, fake_app: FakeApplication
) -> None:
    bot = approval_on
    await ask(bot, "until_morning")

    assert await open_home(bot, ADMIN) == 200
    _, _, shown = await published(bot)

    assert "Two-person approval is *on*" in shown
    assert f"*prod* until 09:00 tomorrow · asked by <@{ADMIN}> in <#{CHANNEL}>" in shown


async def test_a_request_survives_a_restart_and_is_approved_on_the_new_process(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    slack.users[LISTED_ADMIN] = {"name": "carol", "is_admin": True}
    async with serve(settings, slack) as first:
        await set_platform_token(first, acedata)
        fake = FakeApplication(acedata)
        await first.quota(f"link prod {APP_ID}", user=ADMIN)
        await first.quota("policy approval on", user=ADMIN)
        request = await ask(first)
    # The process that posted the request is gone; another one serves the press.
    async with serve(settings, slack) as second:
        await press(second, request, APPROVE_ACTION, LISTED_ADMIN)

    assert fake.posts == [{"allow_consume_global": True}]
    assert requests(db) == [(ADMIN, "approved", LISTED_ADMIN, "4h")]
