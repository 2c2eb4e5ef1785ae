"""The authorization matrix: who may change what, through commands, buttons and crafted
payloads. Slack workspace admins and owners and listed bot admins may; members may not; an
Enterprise Grid org admin who is not an admin of this workspace is a member here; a user of
another workspace is refused before anything is read. A refusal changes nothing.
(`quota-bot purge-workspace` is the operator's, on the server: no Slack user can reach it.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx
from sqlalchemy import Engine

from bot.slack import blocks
from bot.slack.ids import (
    APPROVE_ACTION,
    KEY_CAP_ACTION,
    KEY_PAUSE_ACTION,
    KEY_RESUME_ACTION,
    REJECT_ACTION,
    REQUEST_FALLBACK_STEP,
    TOGGLE_ACTION,
    TOKEN_ACTION,
    TOKEN_BLOCK,
    TOKEN_MODAL_CALLBACK,
)
from tests.support.client import (
    ADMIN,
    CHANNEL,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    TOKEN_OWNER,
    BotClient,
    FakeApplication,
    blocks_of,
    table_rows,
    token_value,
)
from tests.support.functions import run_step
from tests.support.keys import (
    CI_KEY,
    FakeKeys,
    api_key,
    keys_message,
    message_of,
    metadata_for,
    press_key,
    submit_cap,
)
from tests.support.slack_server import SlackServer

ORG_ADMIN = "UORGADMIN"
OTHER_TEAM = "T0002"
ROLES = {
    "Slack admin": ADMIN,
    "bot admin": LISTED_ADMIN,
    "member": MEMBER,
    "org admin": ORG_ADMIN,
    "other workspace": MEMBER,
}
MAY_CHANGE = {"Slack admin", "bot admin"}
# What an admin sets up first, then the command that changes something.
COMMANDS = {
    "link": (None, f"link staging {OTHER_APP_ID}"),
    "unlink": (None, "unlink prod"),
    "admins add": (None, "admins add <@UNEWADMIN|dan>"),
    "admins remove": (None, f"admins remove <@{LISTED_ADMIN}|carol>"),
    "digest set": (None, "digest daily 09:00 UTC"),
    "digest off": ("digest daily 09:00 UTC", "digest off"),
    "alert set": (None, "alert prod below 10"),
    "alert off": ("alert prod below 10", "alert prod off"),
    "spike set": (None, "alert prod spike"),
    "spike off": ("alert prod spike", "alert prod spike off"),
    "approval policy": (None, "policy approval on"),
}


@pytest.fixture(autouse=True)
def org_admin(slack: SlackServer) -> None:
    """An admin of the Enterprise Grid org, not of this workspace."""
    slack.users[ORG_ADMIN] = {"name": "erin", "enterprise_user": {"is_admin": True}}


def acting(bot: BotClient, role: str) -> BotClient:
    return bot.as_team(OTHER_TEAM) if role == "other workspace" else bot


def refused(role: str, text: str) -> bool:
    if role == "other workspace":
        return text == blocks.OTHER_WORKSPACE
    return text.startswith(":no_entry: Only bot admins can")


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS.keys())
async def test_commands_that_change_something(
    linked: BotClient, db: Engine, role: str, command: str
) -> None:
    setup, text = COMMANDS[command]
    if setup is not None:
        await linked.quota(setup, user=ADMIN)
    await linked.settle()
    before = table_rows(db)

    reply = await acting(linked, role).quota(text, user=ROLES[role])
    await linked.settle()

    assert reply is not None
    if role in MAY_CHANGE:
        assert not refused(role, reply.text)
        assert table_rows(db) != before
    else:
        assert refused(role, reply.text), reply.text
        assert table_rows(db) == before


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
async def test_the_fallback_switch(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, role: str
) -> None:
    fake = FakeApplication(acedata)
    card = await linked.quota("prod", user=MEMBER)
    assert card is not None

    if role == "other workspace":  # a crafted press of this workspace's card
        payload, _ = linked.action_payload(card.body, TOGGLE_ACTION, user=MEMBER, team=OTHER_TEAM)
        status, body = await linked.as_team(OTHER_TEAM).post_form({"payload": json.dumps(payload)})
        assert (status, body) == (200, "")
    else:
        key = await linked.press_switch(card.body, TOGGLE_ACTION, user=ROLES[role])
        said = await linked.slack.wait_for_response(key)
        if role not in MAY_CHANGE:
            assert refused(role, said["text"])
    await linked.settle()

    assert (fake.posts != []) == (role in MAY_CHANGE)


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
async def test_the_token_dialog_submitted_directly(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, role: str
) -> None:
    acedata.get("/platform-tokens/me/").respond(json=TOKEN_OWNER)
    new_token = PLATFORM_TOKEN[:-4] + "beef"
    before = table_rows(db)

    answer: dict[str, Any] = await acting(linked, role).submit_view(
        TOKEN_MODAL_CALLBACK,
        {TOKEN_BLOCK: {TOKEN_ACTION: token_value(new_token)}},
        user=ROLES[role],
    )
    await linked.settle()

    if role in MAY_CHANGE:
        assert answer.get("response_action") == "update"
        assert table_rows(db) != before
    else:
        assert answer.get("response_action") in {"errors", None}
        assert table_rows(db) == before


KEY_BUTTONS = {
    "pause key": KEY_PAUSE_ACTION,
    "resume key": KEY_RESUME_ACTION,
    "set cap": KEY_CAP_ACTION,
}


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
@pytest.mark.parametrize("button", KEY_BUTTONS, ids=KEY_BUTTONS.keys())
async def test_the_key_buttons(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, role: str, button: str
) -> None:
    fake = FakeKeys(acedata, [api_key(CI_KEY, "ci-bot", used=5)])
    message = await keys_message(linked, user=ADMIN)
    if button == "resume key":  # a key the bot paused, for an admin
        await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
        message = message_of(await linked.slack.wait_for_call("chat.update"))
        await linked.settle()
    patches, dialogs = len(fake.patches), len(linked.slack.calls_to("views.open"))

    key = await press_key(
        acting(linked, role), message, KEY_BUTTONS[button], CI_KEY, user=ROLES[role]
    )
    if role in MAY_CHANGE and button == "set cap":
        await linked.slack.wait_for_call("views.open", count=dialogs + 1)
    elif role != "other workspace":
        said = await linked.slack.wait_for_response(key) if role not in MAY_CHANGE else None
        if said is not None:
            assert refused(role, said["text"]), said["text"]
    await linked.settle()

    changed = len(fake.patches) > patches or len(linked.slack.calls_to("views.open")) > dialogs
    assert changed == (role in MAY_CHANGE)


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
async def test_the_cap_dialog_submitted_directly(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, role: str
) -> None:
    fake = FakeKeys(acedata, [api_key(CI_KEY, "ci-bot", used=5)])
    before = table_rows(db)

    answer = await submit_cap(acting(linked, role), "7", metadata_for(CI_KEY), user=ROLES[role])
    await linked.settle()

    assert answer.get("response_action") in {"errors", None}
    assert (fake.patches != []) == (role in MAY_CHANGE)
    if role in MAY_CHANGE:
        assert fake.patches == [(CI_KEY, {"limited_amount": "7"})]
    else:
        changed = {name for name, rows in table_rows(db).items() if rows != before[name]}
        assert changed <= {"audit_events"}  # the refusal, recorded


SECOND_ADMIN = "USECOND"
REQUEST_TS = "1700000000.000200"
DECISIONS = {"approve": APPROVE_ACTION, "reject": REJECT_ACTION}


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
@pytest.mark.parametrize("decision", DECISIONS, ids=DECISIONS.keys())
async def test_approving_and_rejecting_a_fallback_request(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, role: str, decision: str
) -> None:
    fake = FakeApplication(acedata)
    linked.slack.users[SECOND_ADMIN] = {"name": "dora", "is_admin": True}
    await linked.quota("policy approval on", user=ADMIN)
    card = await linked.quota("prod", user=MEMBER)
    assert card is not None
    await linked.press_switch(card.body, TOGGLE_ACTION, user=SECOND_ADMIN)  # asks for approval
    await linked.settle()
    request = {"blocks": blocks_of(linked.slack.calls_to("chat.postMessage")[-1])}
    before = table_rows(db)

    if role == "other workspace":
        payload, _ = linked.action_payload(
            request, DECISIONS[decision], user=MEMBER, team=OTHER_TEAM, message_ts=REQUEST_TS
        )
        status, body = await linked.as_team(OTHER_TEAM).post_form({"payload": json.dumps(payload)})
        assert (status, body) == (200, "")
    else:
        key = await linked.press(
            request, DECISIONS[decision], user=ROLES[role], message_ts=REQUEST_TS
        )
        said = await linked.slack.wait_for_response(key) if role not in MAY_CHANGE else None
        if said is not None:
            assert said["text"].startswith(":no_entry: Only bot admins can"), said["text"]
    await linked.settle()

    assert (table_rows(db) != before) == (role in MAY_CHANGE)
    assert (fake.posts != []) == (role in MAY_CHANGE and decision == "approve")


@pytest.mark.parametrize("role", ROLES, ids=ROLES.keys())
async def test_the_request_fallback_workflow_step(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, role: str
) -> None:
    fake = FakeApplication(acedata)
    inputs = {"alias": "prod", "enable": True, "channel_id": CHANNEL, "user_id": ROLES[role]}
    team = OTHER_TEAM if role == "other workspace" else None

    execution = await run_step(linked, REQUEST_FALLBACK_STEP, inputs, team=team)
    await linked.settle()

    ends = [c for c in linked.slack.calls if c.data.get("function_execution_id") == execution]
    if role in MAY_CHANGE:
        assert [c.method for c in ends] == ["functions.completeSuccess"]
    elif role == "other workspace":
        assert ends == []  # refused before anything is read
    else:
        assert [c.method for c in ends] == ["functions.completeError"]
        assert "Only Quota Bot admins may" in ends[0].data["error"]
    assert (fake.posts != []) == (role in MAY_CHANGE)
