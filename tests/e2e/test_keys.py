"""`/quota keys <alias>` (admins): an application's API keys, their state and spend over the last
day, and the guarded buttons to cap, pause and resume each."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx
from sqlalchemy import Engine, text

from bot.slack.ids import (
    KEY_CAP_ACTION,
    KEY_PAUSE_ACTION,
    KEY_RESUME_ACTION,
    SPIKE_ACTIONS_BLOCK,
)
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    FORM,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    BotClient,
    button_labels,
    table_rows,
)
from tests.support.home import open_home, published
from tests.support.keys import (
    CI_KEY,
    KEYS_TS,
    OLD_KEY,
    THEIR_KEY,
    WEB_KEY,
    FakeKeys,
    api_key,
    iso,
    key_row,
    key_text,
    keys_message,
    message_of,
    metadata_for,
    opened_view,
    press_key,
    submit_cap,
)
from tests.support.slack_server import TEAM_ID

NOW = datetime.now(UTC)
FUTURE = NOW + timedelta(days=60)


@pytest.fixture
def fake_keys(linked: BotClient, acedata: respx.MockRouter) -> FakeKeys:
    return FakeKeys(
        acedata,
        [
            api_key(CI_KEY, "ci-bot", used="120.5", cap=None, expired_at=None),
            api_key(WEB_KEY, "web", used=80, cap=80, expired_at=iso(FUTURE), kind="Identity"),
            api_key(OLD_KEY, "old", used=3, expired_at=iso(NOW - timedelta(days=2))),
            api_key(THEIR_KEY, "theirs", used=1, application_id=OTHER_APP_ID),
        ],
    )


def rows(db: Engine, query: str, **params: Any) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query), params)]


def key_audit(db: Engine) -> list[tuple[Any, ...]]:
    return rows(
        db,
        "SELECT action, outcome, alias, application_id, before, requested, after FROM "
        "audit_events WHERE action LIKE 'key_%' ORDER BY id",
    )


def store_reading(db: Engine, key_id: str, used: str, age: timedelta) -> None:
    at = datetime.now(UTC) - age
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO key_readings (team_id, application_id, key_id, key_name, used, "
                "observed_at) VALUES (:team, :app, :key, NULL, :used, :at)"
            ),
            {"team": TEAM_ID, "app": APP_ID, "key": key_id, "used": used, "at": at},
        )


async def note(bot: BotClient, count: int = 2) -> str:
    """The text of the `count`-th message posted (the first is the keys list)."""
    call = await bot.slack.wait_for_call("chat.postMessage", count=count)
    assert call.data["thread_ts"] == KEYS_TS
    assert call.data["channel"] == CHANNEL
    return str(call.data["text"])


async def updated_list(bot: BotClient) -> dict[str, Any]:
    call = await bot.slack.wait_for_call("chat.update")
    assert (call.data["channel"], call.data["ts"]) == (CHANNEL, KEYS_TS)
    return message_of(call)


# The list.


async def test_admin_sees_each_key_with_its_state_spend_and_buttons(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    store_reading(db, CI_KEY, "100.25", timedelta(hours=24, minutes=10))
    store_reading(db, CI_KEY, "110", timedelta(hours=3))
    store_reading(db, WEB_KEY, "70", timedelta(hours=5))

    message = await keys_message(linked, user=ADMIN)

    posted = linked.slack.calls_to("chat.postMessage")[-1]
    assert posted.data["channel"] == CHANNEL
    assert posted.data["text"] == "API keys of prod: 3 keys, 1 paused"
    assert message["blocks"][0]["text"]["text"] == "API keys · prod"
    ci = key_text(message, CI_KEY)
    assert ci.splitlines()[:3] == [
        "*ci-bot* · Token · :large_green_circle: active",
        "Spent *120.50* · no cap · no expiry",
        "Last day: *20.25*",
    ]
    web = key_text(message, WEB_KEY)
    assert web.startswith("*web* · Identity · :no_entry: capped out\nSpent *80.00* · cap 80.00")
    assert "expires <!date^" in web
    assert "\nSince <!date^" in web and ": *10.00*" in web
    old = key_text(message, OLD_KEY)
    assert old.startswith("*old* · Token · :double_vertical_bar: paused")
    assert "Last day: not known yet" in old
    assert "Not paused by Quota Bot" in old
    assert "theirs" not in json.dumps(message)
    # The biggest spender over the last day first; a key paused elsewhere cannot be resumed.
    assert json.loads(key_row(message, CI_KEY)["blocks"][0]["elements"][0]["value"]) == {
        "alias": "prod",
        "application_id": APP_ID,
        "key_id": CI_KEY,
    }
    assert button_labels(key_row(message, CI_KEY)["blocks"]) == ["Set cap…", "Pause key"]
    assert button_labels(key_row(message, OLD_KEY)["blocks"]) == ["Set cap…"]
    order = [b["block_id"] for b in message["blocks"] if b["type"] == "actions"]
    assert order == ["quota_key_actions:0", "quota_key_actions:1", "quota_key_actions:2"]
    assert key_row(message, CI_KEY)["blocks"][0]["block_id"] == "quota_key_actions:0"


async def test_each_read_is_kept_as_one_reading_per_key_a_minute(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    await keys_message(linked, user=ADMIN)
    first = rows(db, "SELECT key_id, key_name, used FROM key_readings ORDER BY key_name")
    assert first == [(CI_KEY, "ci-bot", "120.5"), (OLD_KEY, "old", "3"), (WEB_KEY, "web", "80")]

    fake_keys.keys[CI_KEY]["used_amount"] = 130
    second = await keys_message(linked, user=LISTED_ADMIN)

    assert len(rows(db, "SELECT * FROM key_readings")) == 3  # not a minute since the first
    assert "Since <!date^" in key_text(second, CI_KEY)
    assert ": *9.50*" in key_text(second, CI_KEY)


async def test_member_is_refused_and_nothing_is_read(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    reply = await linked.quota("keys prod", user=MEMBER)
    assert reply is not None
    assert reply.response_type == "ephemeral"
    assert reply.text.startswith(":no_entry: Only bot admins can list an application's API keys")
    assert fake_keys.log == []
    assert rows(db, "SELECT * FROM key_readings") == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("keys", "Missing the alias for `keys`."),
        ("keys prod staging", "Too many arguments for `keys`."),
        ("keys nope", "There is no alias *nope* here."),
    ],
)
async def test_no_alias_or_an_unknown_one_is_answered_privately(
    linked: BotClient, fake_keys: FakeKeys, command: str, expected: str
) -> None:
    reply = await linked.quota(command, user=ADMIN)
    assert reply is not None
    assert reply.response_type == "ephemeral"
    assert expected in reply.text
    assert fake_keys.log == []


async def test_an_application_without_keys_is_said_privately(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    FakeKeys(acedata, [])
    reply = await linked.quota("keys prod", user=ADMIN)
    assert reply is not None
    assert reply.text == ":key: *prod* has no API keys."
    assert linked.slack.calls_to("chat.postMessage") == []


async def test_a_channel_the_bot_cannot_post_in_is_explained(
    linked: BotClient, fake_keys: FakeKeys
) -> None:
    linked.slack.channel_failures[CHANNEL] = "not_in_channel"
    reply = await linked.quota("keys prod", user=ADMIN)
    assert reply is not None
    assert reply.response_type == "ephemeral"
    assert "The key list could not be posted here (Slack said `not_in_channel`)" in reply.text
    assert "/invite @Quota Bot" in reply.text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            httpx.Response(401, json={"detail": "Invalid token."}),
            "The Ace Data Cloud token for this workspace was rejected",
        ),
        (
            httpx.Response(403, json={"detail": "You do not have permission."}),
            f"has no access to application `{APP_ID}` (*prod*)",
        ),
        (
            httpx.Response(404, json={"detail": "Not found."}),
            f"Ace Data Cloud has no application `{APP_ID}` for this account",
        ),
        (
            httpx.Response(429, headers={"Retry-After": "30"}, json={"detail": "Slow down."}),
            "rate-limiting requests right now; try again in 30 s",
        ),
        (httpx.Response(200, json={"count": 1}), "could not read (The key list had no items)"),
        (
            httpx.Response(200, json={"items": [{"name": "no id"}]}),
            "missing or had invalid fields: id",
        ),
    ],
    ids=["401", "403", "404", "429", "no items", "a key without id"],
)
async def test_a_key_list_ace_data_cloud_will_not_give_is_explained(
    linked: BotClient, fake_keys: FakeKeys, db: Engine, answer: httpx.Response, expected: str
) -> None:
    fake_keys.list_answer = answer
    reply = await linked.quota("keys prod", user=ADMIN)
    assert reply is not None
    assert reply.response_type == "ephemeral"
    assert expected in reply.text, reply.text
    assert linked.slack.calls_to("chat.postMessage") == []
    assert rows(db, "SELECT * FROM key_readings") == []


# Pause and resume.


async def test_admin_pauses_a_key_and_the_channel_sees_it(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    _, pause = key_row(message, CI_KEY)["blocks"][0]["elements"]
    assert pause["style"] == "danger"
    assert pause["confirm"]["text"]["text"] == (
        "Key *ci-bot* of *prod* stops working at once: its expiry is set to now, so Ace Data "
        "Cloud refuses calls made with it. *Resume key* gives it back no expiry."
    )
    fake_keys.log.clear()

    await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)

    assert await note(linked) == (
        f"<@{ADMIN}> paused key *ci-bot* of *prod* (calls with it are refused; *Resume key* "
        "gives it back no expiry)"
    )
    [(key_id, body)] = fake_keys.patches
    assert key_id == CI_KEY and list(body) == ["expired_at"]
    paused_at = datetime.fromisoformat(body["expired_at"])
    assert abs(paused_at - datetime.now(UTC)) < timedelta(seconds=10)
    assert fake_keys.log == ["LIST", "PATCH", "LIST"]
    updated = await updated_list(linked)
    assert ":double_vertical_bar: paused" in key_text(updated, CI_KEY)
    assert "Paused by Quota Bot: *Resume key* gives it back no expiry." in key_text(updated, CI_KEY)
    assert button_labels(key_row(updated, CI_KEY)["blocks"]) == ["Set cap…", "Resume key"]
    assert rows(
        db, "SELECT key_id, application_id, previous_expired_at, paused_by FROM key_pauses"
    ) == [(CI_KEY, APP_ID, None, ADMIN)]
    [audit] = key_audit(db)
    assert audit[:6] == ("key_pause", "changed", "prod", APP_ID, "no expiry", "paused")
    assert audit[6].startswith("paused, expires ")


async def test_resume_gives_back_the_expiry_the_key_had(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    fake_keys.keys[WEB_KEY]["limited_amount"] = None  # not capped out: pausable
    message = await keys_message(linked, user=ADMIN)
    await press_key(linked, message, KEY_PAUSE_ACTION, WEB_KEY, user=ADMIN)
    await note(linked)
    paused = await updated_list(linked)
    resume = key_row(paused, WEB_KEY)["blocks"][0]["elements"][1]
    assert resume["confirm"]["text"]["text"] == (
        f"Key *web* of *prod* works again: its expiry goes back to "
        f"{FUTURE.strftime('%Y-%m-%d %H:%M')} UTC, as before the pause."
    )

    await press_key(linked, paused, KEY_RESUME_ACTION, WEB_KEY, user=LISTED_ADMIN)

    text_ = await note(linked, count=3)
    assert text_.startswith(f"<@{LISTED_ADMIN}> resumed key *web* of *prod* (its expiry is back")
    assert [body for _, body in fake_keys.patches][1] == {"expired_at": iso(FUTURE)}
    assert datetime.fromisoformat(fake_keys.keys[WEB_KEY]["expired_at"]) == FUTURE
    assert rows(db, "SELECT * FROM key_pauses") == []
    await linked.slack.wait_for_call("chat.update", count=2)
    resumed = message_of(linked.slack.calls_to("chat.update")[1])
    assert ":large_green_circle: active" in key_text(resumed, WEB_KEY)
    assert [row[:2] for row in key_audit(db)] == [
        ("key_pause", "changed"),
        ("key_resume", "changed"),
    ]


async def test_resume_of_a_key_that_had_no_expiry_clears_it(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    paused = await updated_list(linked)
    await press_key(linked, paused, KEY_RESUME_ACTION, CI_KEY, user=ADMIN)
    assert "(its expiry is back to no expiry)" in await note(linked, count=3)
    assert fake_keys.patches[1] == (CI_KEY, {"expired_at": None})
    assert fake_keys.keys[CI_KEY]["expired_at"] is None


async def test_a_key_paused_elsewhere_is_not_resumed(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    row = key_row(message, OLD_KEY)
    value = row["blocks"][0]["elements"][0]["value"]  # a crafted Resume press for it
    row["blocks"][0]["elements"][0]["action_id"] = KEY_RESUME_ACTION

    key = await linked.press(row, KEY_RESUME_ACTION, user=ADMIN, value=value, message_ts=KEYS_TS)
    reply = await linked.slack.wait_for_response(key)

    assert "Key *old* of *prod* was not paused by Quota Bot" in reply["text"]
    assert "nothing was changed" in reply["text"]
    assert fake_keys.patches == []
    assert [row[:2] for row in key_audit(db)] == [("key_resume", "refused")]


async def test_pausing_a_paused_key_changes_nothing(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)  # a double click
    second = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    reply = await linked.slack.wait_for_response(second)
    await linked.settle()

    assert reply["text"] == (
        ":information_source: Key *ci-bot* of *prod* is already paused (its expiry has "
        "passed); nothing was changed."
    )
    assert len(fake_keys.patches) == 1
    assert [row[:2] for row in key_audit(db)] == [
        ("key_pause", "changed"),
        ("key_pause", "unchanged"),
    ]


async def test_member_cannot_press_a_key_button(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    fake_keys.log.clear()
    key = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=MEMBER)
    reply = await linked.slack.wait_for_response(key)
    assert reply["response_type"] == "ephemeral"
    assert reply["replace_original"] is False
    assert "Only bot admins can pause a key" in reply["text"]
    assert fake_keys.log == []
    assert [row[:2] for row in key_audit(db)] == [("key_pause", "refused")]


async def test_pause_from_a_spike_alert_is_noted_under_the_alert_and_leaves_it(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    value = json.dumps({"alias": "prod", "application_id": APP_ID, "key_id": CI_KEY})
    alert = {
        "text": "prod is spending 6 times its usual rate",
        "blocks": [
            {
                "type": "actions",
                "block_id": SPIKE_ACTIONS_BLOCK,
                "elements": [
                    {
                        "type": "button",
                        "action_id": KEY_PAUSE_ACTION,
                        "text": {"type": "plain_text", "text": "Pause key ci-bot"},
                        "value": value,
                    }
                ],
            }
        ],
    }
    await linked.press(alert, KEY_PAUSE_ACTION, user=ADMIN, message_ts="1700000999.000100")
    call = await linked.slack.wait_for_call("chat.postMessage")
    await linked.settle()

    assert call.data["thread_ts"] == "1700000999.000100"
    assert call.data["text"].startswith(f"<@{ADMIN}> paused key *ci-bot* of *prod*")
    assert linked.slack.calls_to("chat.update") == []
    assert len(fake_keys.patches) == 1


# The cap dialog.


async def test_set_cap_opens_a_dialog_and_its_submission_sets_the_cap(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    opened = len(linked.slack.calls_to("views.open"))  # the token dialog's, so far
    await press_key(linked, message, KEY_CAP_ACTION, WEB_KEY, user=ADMIN)
    await linked.slack.wait_for_call("views.open", count=opened + 1)
    view = opened_view(linked)
    assert view["callback_id"] == "quota_key_cap_modal"
    assert "Key *web* of *prod* has spent *80.00*; its cap is 80.00." in json.dumps(view)
    [field] = [block for block in view["blocks"] if block["type"] == "input"]
    assert field["block_id"] == "key_cap" and field["optional"] is True
    assert field["element"]["initial_value"] == "80"
    assert fake_keys.patches == []

    answer = await submit_cap(linked, "250.5", view["private_metadata"], user=ADMIN)

    assert answer == {}  # the dialog closes
    assert await note(linked) == (
        f"<@{ADMIN}> set the spend cap of key *web* of *prod* to 250.50 (was 80.00)"
    )
    assert fake_keys.patches == [(WEB_KEY, {"limited_amount": "250.5"})]
    updated = await updated_list(linked)
    assert "cap 250.50" in key_text(updated, WEB_KEY)
    assert ":large_green_circle: active" in key_text(updated, WEB_KEY)
    assert key_audit(db) == [("key_cap", "changed", "prod", APP_ID, "80", "250.5", "250.5")]


async def test_an_empty_cap_removes_the_cap(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    await keys_message(linked, user=ADMIN)
    for typed in ("", None):
        fake_keys.keys[WEB_KEY]["limited_amount"] = 80
        assert await submit_cap(linked, typed, metadata_for(WEB_KEY), user=ADMIN) == {}
        await linked.settle()
    assert fake_keys.patches == [(WEB_KEY, {"limited_amount": None})] * 2
    assert "removed the spend cap of key *web* of *prod* (was 80.00)" in await note(linked)
    assert [row[4:] for row in key_audit(db)] == [("80", "none", "none")] * 2


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("-5", "A cap cannot be negative"),
        ("1e400", "That cap is too large"),
        ("1000000000000000", "That cap is too large"),
        ("abc", "That is not a number"),
        ("NaN", "Enter a finite amount"),
        ("Infinity", "Enter a finite amount"),
        ("1,000", "without separators"),
        ("0.0000001", "at most 6 decimal places"),
        ("١٢", "plain number"),
    ],
)
async def test_a_cap_that_is_not_one_is_an_error_on_the_field(
    linked: BotClient, fake_keys: FakeKeys, db: Engine, typed: str, expected: str
) -> None:
    before = table_rows(db)
    answer = await submit_cap(linked, typed, metadata_for(CI_KEY), user=ADMIN)
    await linked.settle()
    assert answer["response_action"] == "errors"
    assert expected in answer["errors"]["key_cap"]
    assert fake_keys.log == []
    assert table_rows(db) == before


async def test_a_cap_of_zero_is_a_cap(linked: BotClient, fake_keys: FakeKeys) -> None:
    assert await submit_cap(linked, " 0 ", metadata_for(CI_KEY, ts=None), user=ADMIN) == {}
    await linked.settle()
    assert fake_keys.patches == [(CI_KEY, {"limited_amount": "0"})]
    # No message to thread under: the note comes to the admin privately.
    [private] = linked.slack.calls_to("chat.postEphemeral")
    assert private.data["user"] == ADMIN
    assert (
        "set the spend cap of key *ci-bot* of *prod* to 0.00 (was no cap)" in private.data["text"]
    )


async def test_an_unreadable_dialog_changes_nothing(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    answer = await submit_cap(linked, "5", '{"channel": "C0001"}', user=ADMIN)
    await linked.settle()
    assert answer["response_action"] == "errors"
    assert "could not be read" in answer["errors"]["key_cap"]
    assert fake_keys.log == []
    assert rows(
        db, "SELECT action, outcome, detail FROM audit_events WHERE action = 'key_cap'"
    ) == [("key_cap", "refused", "unreadable button value")]


# Forged values.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"alias": "prod", "application_id": APP_ID, "key_id": THEIR_KEY},
            "That key is not one of *prod*'s API keys",
        ),
        (
            {"alias": "prod", "application_id": APP_ID, "key_id": "0a1b2c3d-nope"},
            "That key is not one of *prod*'s API keys",
        ),
        (
            {"alias": "prod", "application_id": OTHER_APP_ID, "key_id": THEIR_KEY},
            "*prod* now points to another application",
        ),
        (
            {"alias": "elsewhere", "application_id": OTHER_APP_ID, "key_id": THEIR_KEY},
            "*elsewhere* is not an alias in this channel or workspace",
        ),
    ],
    ids=["another application's key", "unknown key", "application mismatch", "other channel"],
)
@pytest.mark.parametrize("action", [KEY_PAUSE_ACTION, KEY_RESUME_ACTION, KEY_CAP_ACTION])
async def test_a_forged_key_button_changes_nothing(
    linked: BotClient,
    fake_keys: FakeKeys,
    db: Engine,
    value: dict[str, str],
    expected: str,
    action: str,
) -> None:
    await linked.quota(f"link elsewhere {OTHER_APP_ID}", user=ADMIN, channel=OTHER_CHANNEL)
    message = await keys_message(linked, user=ADMIN)
    row = key_row(message, CI_KEY)
    for element in row["blocks"][0]["elements"]:
        element["action_id"] = action

    key = await linked.press(row, action, user=ADMIN, value=json.dumps(value), message_ts=KEYS_TS)
    reply = await linked.slack.wait_for_response(key)
    await linked.settle()

    assert expected in reply["text"], reply["text"]
    assert "nothing was changed" in reply["text"]
    assert fake_keys.patches == []
    assert len(linked.slack.calls_to("views.open")) == 1  # the token dialog's only
    assert [row[1] for row in key_audit(db)] == ["refused"]


async def test_a_forged_cap_dialog_changes_nothing(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    forged = metadata_for(THEIR_KEY, application_id=APP_ID)
    assert await submit_cap(linked, "5", forged, user=ADMIN) == {}
    await linked.settle()
    [private] = linked.slack.calls_to("chat.postEphemeral")
    assert "That key is not one of *prod*'s API keys" in private.data["text"]
    assert fake_keys.patches == []
    assert [row[:2] for row in key_audit(db)] == [("key_cap", "refused")]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        '{"alias": "prod"}',
        json.dumps({"alias": "prod", "application_id": APP_ID, "key_id": "../x"}),
    ],
    ids=["empty", "not json", "missing fields", "bad key id"],
)
async def test_a_garbage_key_button_is_refused_clearly(
    linked: BotClient, fake_keys: FakeKeys, db: Engine, value: str
) -> None:
    message = await keys_message(linked, user=ADMIN)
    key = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN, value=value)
    reply = await linked.slack.wait_for_response(key)
    assert "This button's data could not be read" in reply["text"]
    assert fake_keys.patches == []
    assert rows(db, "SELECT action, outcome FROM audit_events WHERE action LIKE 'key_%'") == [
        ("key_pause", "refused")
    ]


# Ace Data Cloud failing a change.


async def test_a_refused_change_changes_nothing_and_says_so(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    fake_keys.patch_answer = httpx.Response(400, json={"detail": "expired_at is invalid"})

    key = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    reply = await linked.slack.wait_for_response(key)
    await linked.settle()

    # What Ace Data Cloud says about a key is never repeated: it could quote the key's secret.
    assert "expired_at is invalid" not in reply["text"]
    assert "(HTTP 400)" in reply["text"]
    assert reply["text"].endswith("The key was not changed.")
    assert fake_keys.keys[CI_KEY]["expired_at"] is None
    assert rows(db, "SELECT * FROM key_pauses") == []
    assert len(linked.slack.calls_to("chat.postMessage")) == 1  # no note
    assert [row[:2] for row in key_audit(db)] == [("key_pause", "failed")]


@pytest.mark.parametrize(
    "answer", [httpx.ReadTimeout("slow"), httpx.Response(502)], ids=["timeout", "502"]
)
async def test_a_change_made_despite_an_unclear_answer_is_reported_as_made(
    linked: BotClient, fake_keys: FakeKeys, db: Engine, answer: httpx.Response | Exception
) -> None:
    message = await keys_message(linked, user=ADMIN)
    fake_keys.patch_answer = answer
    fake_keys.applies_despite_answer = True

    await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)

    assert (await note(linked)).startswith(f"<@{ADMIN}> paused key *ci-bot* of *prod*")
    assert ":double_vertical_bar: paused" in key_text(await updated_list(linked), CI_KEY)
    assert [row[:2] for row in key_audit(db)] == [("key_pause", "changed")]


async def test_a_change_that_cannot_be_read_back_may_or_may_not_have_been_made(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    fake_keys.patch_answer = httpx.ReadTimeout("slow")
    fake_keys.applies_despite_answer = True
    fake_keys.reread_answer = httpx.Response(503)

    key = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    reply = await linked.slack.wait_for_response(key)
    await linked.settle()

    assert "did not answer in time" in reply["text"]
    assert (
        "The change may or may not have been made: run `/quota keys prod` to see." in reply["text"]
    )
    # What undoes the pause is kept, in case it was made.
    assert rows(db, "SELECT key_id FROM key_pauses") == [(CI_KEY,)]
    assert [row[:2] for row in key_audit(db)] == [("key_pause", "failed")]
    assert linked.slack.calls_to("chat.update") == []


async def test_a_change_while_the_application_is_locked_waits_then_gives_up(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO fallback_locks (team_id, application_id, holder, acquired_at) "
                "VALUES (:team, :app, 'other', :now)"
            ),
            {"team": TEAM_ID, "app": APP_ID, "now": datetime.now(UTC)},
        )
    key = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    reply = await linked.slack.wait_for_response(key)
    assert "Another change to *prod* is in progress; nothing was changed" in reply["text"]
    assert fake_keys.patches == []
    assert [row[:2] for row in key_audit(db)] == [("key_pause", "busy")]


async def test_a_replayed_press_changes_nothing_more(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    payload, _ = linked.action_payload(
        key_row(message, CI_KEY), KEY_PAUSE_ACTION, user=ADMIN, message_ts=KEYS_TS
    )
    body = urlencode({"payload": json.dumps(payload)})
    headers = linked.signed_headers(body)

    assert await linked.post(body, headers, FORM) == (200, "")
    await note(linked)
    assert await linked.post(body, headers, FORM) == (200, "")
    await linked.settle()

    assert len(fake_keys.patches) == 1
    assert len(linked.slack.calls_to("chat.postMessage")) == 2
    assert [row[:2] for row in key_audit(db)] == [("key_pause", "changed")]


async def test_a_key_gone_when_the_change_is_sent_is_said_to_be_gone(
    linked: BotClient, fake_keys: FakeKeys, db: Engine
) -> None:
    message = await keys_message(linked, user=ADMIN)
    fake_keys.patch_answer = httpx.Response(404, json={"detail": "Not found."})

    key = await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    reply = await linked.slack.wait_for_response(key)
    await linked.settle()

    assert reply["text"] == (
        ":warning: Ace Data Cloud no longer has key *ci-bot* of *prod*; nothing was changed. "
        "Run `/quota keys prod` for a fresh list."
    )
    assert rows(db, "SELECT * FROM key_pauses") == []


async def test_app_home_lists_the_keys_the_bot_paused_until_they_are_resumed(
    linked: BotClient, fake_keys: FakeKeys
) -> None:
    await open_home(linked, ADMIN)
    _, _, before = await published(linked)
    assert "*Keys paused by Quota Bot*\\nNone." in before

    message = await keys_message(linked, user=ADMIN)
    await press_key(linked, message, KEY_PAUSE_ACTION, CI_KEY, user=ADMIN)
    paused = await updated_list(linked)
    await open_home(linked, ADMIN)
    _, _, during = await published(linked, count=2)
    assert "*Keys paused by Quota Bot* (1)" in during
    assert f"• *ci-bot* of *prod* · paused by <@{ADMIN}>" in during

    await press_key(linked, paused, KEY_RESUME_ACTION, CI_KEY, user=ADMIN)
    await linked.slack.wait_for_call("chat.update", count=2)
    await open_home(linked, ADMIN)
    _, _, after = await published(linked, count=3)
    assert "*Keys paused by Quota Bot*\\nNone." in after
