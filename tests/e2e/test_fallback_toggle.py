"""Admins switch the global-balance fallback from the card: guarded, explicit, audited."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx
from sqlalchemy import Engine, text

from bot.config import Settings
from bot.slack.ids import ENABLE_MODAL_CALLBACK, REFRESH_ACTION, TOGGLE_ACTION
from tests.support.client import (
    ADMIN,
    APP_ID,
    FORM,
    LINKS,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    BotClient,
    FakeApplication,
    button_labels,
    card_with_button,
    find_button,
    set_platform_token,
    table_rows,
)
from tests.support.server import serve
from tests.support.slack_server import TEAM_ID, SlackServer

MESSAGE_TS = "1700000000.000100"


@pytest.fixture
def fake_app(linked: BotClient, acedata: respx.MockRouter) -> FakeApplication:
    return FakeApplication(acedata)


async def card_for(bot: BotClient, text: str = "prod") -> dict[str, Any]:
    reply = await bot.quota(text, user=MEMBER)
    assert reply.response_type == "in_channel"
    return reply.body


def fallback_rows(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT team_id, user_id, alias, application_id, before, requested, after, "
                "outcome, trace_id FROM audit_events WHERE action = 'fallback' ORDER BY id"
            )
        ).all()
    return [tuple(row) for row in rows]


async def test_card_offers_the_change_with_a_dialog_that_states_the_consequence(
    bot: BotClient, fake_app: FakeApplication
) -> None:
    off_card = await card_for(bot)
    assert button_labels(off_card["blocks"]) == ["Enable global fallback", "Refresh", *LINKS]
    _, enable = find_button(off_card["blocks"], TOGGLE_ACTION)
    assert "confirm" not in enable  # the dialog it opens is its confirm

    await bot.press(off_card, TOGGLE_ACTION, user=ADMIN)
    await bot.settle()
    view = bot.slack.calls_to("views.open")[-1].data["view"]
    assert view["callback_id"] == ENABLE_MODAL_CALLBACK
    assert view["blocks"][0]["text"]["text"] == (
        "When *prod*'s own quota runs out, calls will be paid from the global balance "
        "(1,234.50 Credits left)."
    )
    options = view["blocks"][1]["element"]["options"]
    assert [option["text"]["text"] for option in options] == [
        "Until someone turns it off",
        "For 1 hour",
        "For 4 hours",
        "Until 09:00 tomorrow (UTC)",
    ]
    assert view["submit"]["text"] == "Enable"
    await bot.settle()
    assert fake_app.posts == []  # nothing changes until the dialog is submitted

    fake_app.allow = True
    on_card = await card_for(bot)
    assert button_labels(on_card["blocks"]) == ["Disable global fallback", "Refresh", *LINKS]
    _, disable = find_button(on_card["blocks"], TOGGLE_ACTION)
    assert (
        "Calls will fail once *prod*'s own quota is used up" in disable["confirm"]["text"]["text"]
    )
    assert disable["style"] == "danger"


async def test_admin_enables_fallback(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    fake_app.log.clear()

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    updated = await bot.slack.wait_for_response(key)

    assert fake_app.posts == [{"allow_consume_global": True}]
    assert fake_app.log[fake_app.log.index("POST") :] == ["POST", "GET"]
    assert fake_app.allow is True
    assert updated["replace_original"] is True
    assert "*Global fallback*\\nON" in json.dumps(updated["blocks"])
    assert button_labels(updated["blocks"]) == ["Disable global fallback", "Refresh", *LINKS]
    note = await bot.slack.wait_for_call("chat.postMessage")
    assert note.data["channel"] == "C0001"
    assert note.data["thread_ts"] == MESSAGE_TS
    assert note.data["text"] == f"<@{ADMIN}> enabled global fallback for *prod* (was off)"
    assert fallback_rows(db) == [
        (TEAM_ID, ADMIN, "prod", APP_ID, "off", "on", "on", "changed", None)
    ]


async def test_listed_admin_disables_fallback(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    fake_app.allow = True
    card = await card_for(bot)
    key = await bot.press_switch(card, TOGGLE_ACTION, user=LISTED_ADMIN)
    await bot.slack.wait_for_response(key)
    assert fake_app.posts == [{"allow_consume_global": False}]
    note = await bot.slack.wait_for_call("chat.postMessage")
    assert note.data["text"] == f"<@{LISTED_ADMIN}> disabled global fallback for *prod* (was on)"


async def test_member_is_refused_and_nothing_is_sent(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    calls = len(fake_app.log)

    key = await bot.press_switch(card, TOGGLE_ACTION, user=MEMBER)
    reply = await bot.slack.wait_for_response(key)

    assert reply["response_type"] == "ephemeral"
    assert reply["replace_original"] is False
    assert "Only bot admins can switch the global fallback" in reply["text"]
    assert len(fake_app.log) == calls
    assert fake_app.allow is False
    assert [row[-2] for row in fallback_rows(db)] == ["refused"]
    assert bot.slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"alias": "theirs", "application_id": OTHER_APP_ID, "enable": True},
            "*theirs* is not an alias in this channel or workspace",
        ),
        (
            {"alias": None, "application_id": OTHER_APP_ID, "enable": True},
            f"Application `{OTHER_APP_ID}` is not linked to any alias in this workspace",
        ),
        (
            {"alias": "prod", "application_id": OTHER_APP_ID, "enable": True},
            "*prod* now points to another application",
        ),
    ],
    ids=["other workspace's alias", "other workspace's application", "mismatched pair"],
)
async def test_button_naming_what_is_not_this_workspaces_is_refused(
    bot: BotClient,
    fake_app: FakeApplication,
    acedata: respx.MockRouter,
    db: Engine,
    value: dict[str, Any],
    expected: str,
) -> None:
    with db.begin() as connection:
        connection.execute(
            text("INSERT INTO workspaces (team_id, created_at) VALUES ('T0002', CURRENT_TIMESTAMP)")
        )
        connection.execute(
            text(
                "INSERT INTO aliases (team_id, channel_id, name, application_id, created_by, "
                "created_at) VALUES ('T0002', NULL, 'theirs', :app, 'UX', CURRENT_TIMESTAMP)"
            ),
            {"app": OTHER_APP_ID},
        )
    other = acedata.post(f"/applications/{OTHER_APP_ID}/update-allow-consume-global/")
    card = await card_for(bot)
    calls = len(acedata.calls)

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN, value=json.dumps(value))
    reply = await bot.slack.wait_for_response(key)

    assert expected in reply["text"]
    assert "nothing was changed" in reply["text"]
    assert len(acedata.calls) == calls
    assert not other.called
    assert [row[-2] for row in fallback_rows(db)] == ["refused"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        '{"alias": "prod"}',
        '{"alias":"prod","application_id":"x","enable":true}',
        json.dumps({"alias": "prod", "application_id": APP_ID, "enable": "yes"}),
        json.dumps({"alias": "prod", "application_id": APP_ID, "enable": True, "flip": True}),
        "x" * 3000,
    ],
    ids=["empty", "not json", "missing fields", "bad id", "not a bool", "extra field", "huge"],
)
async def test_garbage_button_value_is_refused_clearly(
    bot: BotClient, fake_app: FakeApplication, db: Engine, value: str
) -> None:
    card = await card_for(bot)
    before, calls = table_rows(db), len(fake_app.log)
    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN, value=value)
    reply = await bot.slack.wait_for_response(key)
    assert "This button's data could not be read" in reply["text"]
    assert len(fake_app.log) == calls
    after = table_rows(db)
    assert {name: rows for name, rows in after.items() if name != "audit_events"} == {
        name: rows for name, rows in before.items() if name != "audit_events"
    }
    assert [row[-2] for row in fallback_rows(db)] == ["refused"]


async def test_switch_without_a_token_says_how_to_set_one(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    with db.begin() as connection:
        connection.execute(text("UPDATE workspaces SET acedata_token = NULL"))
    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)
    assert "No Ace Data Cloud token is set" in reply["text"]
    assert fake_app.posts == []
    assert [row[-2] for row in fallback_rows(db)] == ["failed"]


async def test_stale_card_is_refreshed_without_sending_anything(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    fake_app.allow = True  # someone enabled it in the console since the card was posted

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    await bot.slack.wait_for_response(key)
    await bot.slack.wait_for_response_count(key, 2)
    refreshed, note = bot.slack.responses[key]

    assert fake_app.posts == []
    assert refreshed["replace_original"] is True
    assert "*Global fallback*\\nON" in json.dumps(refreshed["blocks"])
    assert "already ON; nothing was changed and the card was refreshed" in note["text"]
    assert [row[-2] for row in fallback_rows(db)] == ["unchanged"]


FAILURES = {
    "401": (httpx.Response(401, json={"detail": "Invalid token."}), "token for this workspace"),
    "403": (
        httpx.Response(
            403, json={"error": {"code": "forbidden", "message": "No"}, "trace_id": "tr-403"}
        ),
        "has no access to application",
    ),
    "404": (httpx.Response(404, json={"detail": "Not found."}), "has no application"),
    "500": (httpx.Response(500, json={"detail": "Server error"}), "(HTTP 500)"),
    "timeout": (httpx.ReadTimeout("slow"), "did not answer in time for *prod*"),
}


@pytest.mark.parametrize(("answer", "expected"), FAILURES.values(), ids=FAILURES.keys())
async def test_failed_change_leaves_the_card_and_records_the_failure(
    bot: BotClient,
    fake_app: FakeApplication,
    db: Engine,
    answer: httpx.Response | Exception,
    expected: str,
) -> None:
    card = await card_for(bot)
    fake_app.post_answer = answer

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)

    assert reply["response_type"] == "ephemeral"
    assert reply["replace_original"] is False
    assert expected in reply["text"]
    assert "Global fallback was not changed." in reply["text"]
    await asyncio.sleep(0.2)
    assert len(bot.slack.responses[key]) == 1  # the card was not replaced
    assert bot.slack.calls_to("chat.postMessage") == []
    (row,) = fallback_rows(db)
    # A refusal (4xx) is final; after a 5xx or a timeout the state is read back to be sure.
    read_back = None if isinstance(answer, httpx.Response) and answer.status_code < 500 else "off"
    assert row[4:8] == ("off", "on", read_back, "failed")
    assert row[8] == ("tr-403" if "403" in str(answer) else None)


@pytest.mark.parametrize(
    "answer",
    [httpx.ReadTimeout("slow"), httpx.Response(502), httpx.Response(204)],
    ids=["timeout", "502", "204 without a body"],
)
async def test_change_made_despite_an_unclear_answer_is_reported_as_made(
    bot: BotClient, fake_app: FakeApplication, db: Engine, answer: httpx.Response | Exception
) -> None:
    card = await card_for(bot)
    fake_app.post_answer = answer
    fake_app.applies_despite_answer = True

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    updated = await bot.slack.wait_for_response(key)

    assert updated["replace_original"] is True
    assert "*Global fallback*\\nON" in json.dumps(updated["blocks"])
    note = await bot.slack.wait_for_call("chat.postMessage")
    assert note.data["text"] == f"<@{ADMIN}> enabled global fallback for *prod* (was off)"
    assert [row[4:8] for row in fallback_rows(db)] == [("off", "on", "on", "changed")]


async def test_unreadable_state_after_a_failed_change_says_it_may_have_happened(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    fake_app.post_answer = httpx.ReadTimeout("slow")
    fake_app.applies_despite_answer = True
    original_get = fake_app.get_route.side_effect

    async def get_then_fail(request: httpx.Request) -> httpx.Response:
        if "POST" in fake_app.log:
            return httpx.Response(503)
        return await original_get(request)

    fake_app.get_route.side_effect = get_then_fail

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)

    assert "may or may not have been made: press *Refresh* to see" in reply["text"]
    assert [row[4:8] for row in fallback_rows(db)] == [("off", "on", None, "failed")]


async def test_change_while_another_is_in_flight_waits_then_gives_up(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO fallback_locks (team_id, application_id, holder, acquired_at) "
                "VALUES (:team, :app, 'other-process', :now)"
            ),
            {"team": TEAM_ID, "app": APP_ID, "now": datetime.now(UTC)},
        )

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)

    assert "Another change to *prod*'s global fallback is in progress" in reply["text"]
    assert fake_app.posts == []
    assert [row[-2] for row in fallback_rows(db)] == ["busy"]


async def test_lock_left_by_a_crashed_process_is_taken_over(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO fallback_locks (team_id, application_id, holder, acquired_at) "
                "VALUES (:team, :app, 'crashed', :then)"
            ),
            {"team": TEAM_ID, "app": APP_ID, "then": datetime.now(UTC) - timedelta(minutes=5)},
        )

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    await bot.slack.wait_for_response(key)

    assert fake_app.posts == [{"allow_consume_global": True}]
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM fallback_locks")).scalar_one() == 0


async def test_change_is_reported_even_when_the_card_cannot_be_updated(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    for block in card["blocks"]:
        if block["type"] == "actions":
            block["block_id"] = block["block_id"].replace(":command", ":message")
    bot.slack.failures["chat.update"] = "message_not_found"

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)

    assert "Global fallback for *prod* is ON, but the card could not be updated" in reply["text"]
    assert "message_not_found" in reply["text"]
    note = await bot.slack.wait_for_call("chat.postMessage")
    assert note.data["text"] == f"<@{ADMIN}> enabled global fallback for *prod* (was off)"
    assert [row[-2] for row in fallback_rows(db)] == ["changed"]


async def test_thread_note_that_cannot_be_posted_is_explained(
    bot: BotClient, fake_app: FakeApplication
) -> None:
    card = await card_for(bot)
    bot.slack.failures["chat.postMessage"] = "not_in_channel"

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    await bot.slack.wait_for_response_count(key, 2)
    updated, note = bot.slack.responses[key]

    assert "*Global fallback*\\nON" in json.dumps(updated["blocks"])
    assert "the note under the card could not be posted" in note["text"]
    assert "not_in_channel" in note["text"]


# Long enough a wait that the second change always queues behind the first (a change that
# waits too long is told "busy": another test).
@pytest.mark.parametrize("settings_overrides", [{"fallback_lock_wait": 10.0}])
async def test_double_click_changes_once(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    first, _ = bot.action_payload(card, TOGGLE_ACTION, user=ADMIN)
    second, _ = bot.action_payload(card, TOGGLE_ACTION, user=LISTED_ADMIN)

    answers = await asyncio.gather(
        *(bot.post_form({"payload": json.dumps(payload)}) for payload in (first, second))
    )
    assert answers == [(200, ""), (200, "")]
    await bot.settle()
    opened = bot.slack.calls_to("views.open")
    by_user = {ADMIN: 0, LISTED_ADMIN: 0}
    for number, call in enumerate(opened, start=1):
        by_user[ADMIN if call.data["trigger_id"] == first["trigger_id"] else LISTED_ADMIN] = number
    await asyncio.gather(
        bot.choose_duration(user=ADMIN, dialog=by_user[ADMIN]),
        bot.choose_duration(user=LISTED_ADMIN, dialog=by_user[LISTED_ADMIN]),
    )
    await bot.slack.wait_for_response(first["response_url"].rsplit("/", 1)[1])
    await bot.slack.wait_for_response(second["response_url"].rsplit("/", 1)[1])
    await _wait_for_rows(db, 2)

    assert fake_app.allow is True
    assert fake_app.posts == [{"allow_consume_global": True}]
    assert sorted(row[-2] for row in fallback_rows(db)) == ["changed", "unchanged"]
    assert len(bot.slack.calls_to("chat.postMessage")) == 1


async def test_replayed_request_is_rejected_even_within_the_window(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    payload, key = bot.action_payload(card, TOGGLE_ACTION, user=ADMIN)
    body = urlencode({"payload": json.dumps(payload)})
    headers = bot.signed_headers(body)

    dialogs = len(bot.slack.calls_to("views.open"))
    first = await bot.post(body, headers, FORM)
    await bot.settle()
    replay = await bot.post(body, headers, FORM)
    await bot.settle()
    # the replay opens no second dialog
    assert len(bot.slack.calls_to("views.open")) == dialogs + 1
    await bot.choose_duration(user=ADMIN)
    await bot.slack.wait_for_response(key)

    await bot.settle()
    assert first == (200, "")
    assert replay == (200, "")  # acknowledged, and nothing done for it
    assert fake_app.posts == [{"allow_consume_global": True}]
    assert len(bot.slack.responses[key]) == 1
    assert [row[-2] for row in fallback_rows(db)] == ["changed"]


async def test_forged_unsigned_and_stale_actions_are_rejected(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    payload, _ = bot.action_payload(card, TOGGLE_ACTION, user=ADMIN)
    body = urlencode({"payload": json.dumps(payload)})
    forged = bot.signed_headers(body)
    forged["x-slack-signature"] = "v0=" + "f" * 64
    stale = bot.signed_headers(body, timestamp=int(time.time()) - 301)

    for headers in ({}, forged, stale):
        status, _ = await bot.post(body, headers, FORM)
        assert status == 401
    assert fake_app.posts == []
    assert fallback_rows(db) == []


async def test_anyone_can_refresh_the_card(bot: BotClient, fake_app: FakeApplication) -> None:
    card = await card_for(bot)
    fake_app.allow = True

    key = await bot.press(card, REFRESH_ACTION, user=MEMBER)
    refreshed = await bot.slack.wait_for_response(key)

    assert refreshed["replace_original"] is True
    assert refreshed["response_type"] == "in_channel"
    assert "*Global fallback*\\nON" in json.dumps(refreshed["blocks"])
    assert fake_app.posts == []


async def test_card_the_bot_posted_itself_is_updated_with_chat_update(
    bot: BotClient, fake_app: FakeApplication
) -> None:
    card = await card_for(bot)
    for block in card["blocks"]:
        if block["type"] == "actions":
            block["block_id"] = block["block_id"].replace(":command", ":message")

    await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN, message_ts="1700000099.000300")
    update = await bot.slack.wait_for_call("chat.update")

    assert update.data["channel"] == "C0001"
    assert update.data["ts"] == "1700000099.000300"
    assert "*Global fallback*\\nON" in json.dumps(update.data["blocks"])
    note = await bot.slack.wait_for_call("chat.postMessage")
    assert note.data["thread_ts"] == "1700000099.000300"


async def test_raw_id_card_of_an_unlinked_application_has_no_switch(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    await set_platform_token(bot, acedata)
    FakeApplication(acedata, OTHER_APP_ID)
    reply = await bot.quota(OTHER_APP_ID, user=ADMIN)
    assert button_labels(reply.body["blocks"]) == ["Refresh", *LINKS]
    assert "link it to an alias to switch its global fallback" in reply.text


async def test_audit_lists_recent_events_for_admins_only(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    await bot.slack.wait_for_response(key)

    log = await bot.quota("audit prod", user=ADMIN)
    refused = await bot.quota("audit", user=MEMBER)
    everything = await bot.quota("audit", user=ADMIN)

    assert log.response_type == "ephemeral"
    assert f"<@{ADMIN}> asked to enable global fallback for *prod*: *changed* (off → on)" in (
        log.text
    )
    assert "set the Ace Data Cloud token" not in log.text
    assert "Only bot admins can read the audit log" in refused.text
    assert "set the Ace Data Cloud token (…c56b)" in everything.text
    assert f"linked *prod* → `{APP_ID}`" in everything.text


async def _wait_for_rows(db: Engine, count: int) -> None:
    for _ in range(200):
        if len(fallback_rows(db)) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} fallback audit rows, found {fallback_rows(db)}")


async def test_change_is_reported_as_made_when_the_thread_note_connection_drops(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    bot.slack.drops.add("chat.postMessage")

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    await bot.slack.wait_for_response_count(key, 2)
    updated, told = bot.slack.responses[key]

    assert "*Global fallback*\\nON" in json.dumps(updated["blocks"])
    assert told["response_type"] == "ephemeral"
    assert (
        "Global fallback for *prod* is ON, but the note under the card could not be posted"
        in (told["text"])
    )
    assert "The change was made (it was off)" in told["text"]
    assert "nothing was changed" not in told["text"]
    assert fake_app.allow is True
    assert [row[-2] for row in fallback_rows(db)] == ["changed"]


async def test_change_is_reported_as_made_when_the_re_read_amount_is_absurd(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    card = await card_for(bot)
    fake_app.remaining = "Infinity"

    key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    updated = await bot.slack.wait_for_response(key)

    blocks = json.dumps(updated["blocks"])
    assert "*Global fallback*\\nON" in blocks
    assert "*Remaining*\\nunreadable" in blocks
    note = await bot.slack.wait_for_call("chat.postMessage")
    assert note.data["text"] == f"<@{ADMIN}> enabled global fallback for *prod* (was off)"
    assert len(bot.slack.responses[key]) == 1  # no "something went wrong" after the change
    assert [row[-2] for row in fallback_rows(db)] == ["changed"]


async def test_a_card_refresh_refused_by_slack_is_not_taken_for_success(
    bot: BotClient, fake_app: FakeApplication
) -> None:
    card = await card_for(bot)
    payload, key = bot.action_payload(card, REFRESH_ACTION, user=MEMBER)
    bot.slack.response_statuses[key] = [404]

    status, _ = await bot.post_form({"payload": json.dumps(payload)})
    told = await bot.slack.wait_for_response(key)

    assert status == 200
    assert bot.slack.refused_responses[key][0]["replace_original"] is True
    assert told["response_type"] == "ephemeral"
    assert "the card could not be updated (Slack said `HTTP 404`)" in told["text"]


async def test_an_ephemeral_card_is_updated_through_its_response_url_and_gets_no_thread(
    bot: BotClient, fake_app: FakeApplication
) -> None:
    card = await card_for(bot)
    for block in card["blocks"]:
        if block["type"] == "actions":
            block["block_id"] = block["block_id"].replace(":command", ":message")
    payload, key = bot.action_payload(card, TOGGLE_ACTION, user=ADMIN)
    payload["container"]["is_ephemeral"] = True

    await bot.post_form({"payload": json.dumps(payload)})
    await bot.settle()
    await bot.choose_duration(user=ADMIN)
    updated = await bot.slack.wait_for_response(key)
    await bot.settle()

    assert updated["replace_original"] is True
    assert "*Global fallback*\\nON" in json.dumps(updated["blocks"])
    assert fake_app.allow is True
    assert bot.slack.calls_to("chat.update") == []
    assert bot.slack.calls_to("chat.postMessage") == []
    assert len(bot.slack.responses[key]) == 1


async def test_member_cannot_refresh_an_application_linked_only_in_another_channel(
    bot: BotClient, fake_app: FakeApplication, acedata: respx.MockRouter
) -> None:
    other = FakeApplication(acedata, OTHER_APP_ID)
    await bot.quota(f"link other {OTHER_APP_ID}", user=ADMIN, channel=OTHER_CHANNEL)
    forged = card_with_button(REFRESH_ACTION, {"alias": None, "application_id": OTHER_APP_ID})
    other.log.clear()

    key = await bot.press(forged, REFRESH_ACTION, user=MEMBER)
    reply = await bot.slack.wait_for_response(key)

    assert reply["response_type"] == "ephemeral"
    assert (
        "Only bot admins can refresh a card of an application no alias here points to"
        in (reply["text"])
    )
    assert other.log == []
    assert len(bot.slack.responses[key]) == 1


async def test_member_cannot_refresh_a_card_of_an_unlinked_application(
    bot: BotClient, fake_app: FakeApplication, acedata: respx.MockRouter
) -> None:
    unlinked = FakeApplication(acedata, OTHER_APP_ID)
    admin_card = await bot.quota(OTHER_APP_ID, user=ADMIN)
    unlinked.log.clear()

    key = await bot.press(admin_card.body, REFRESH_ACTION, user=MEMBER)
    reply = await bot.slack.wait_for_response(key)

    assert "Only bot admins can refresh" in reply["text"]
    assert unlinked.log == []


async def test_refresh_of_a_raw_id_card_follows_what_the_channel_may_see(
    bot: BotClient, fake_app: FakeApplication
) -> None:
    raw = card_with_button(REFRESH_ACTION, {"alias": None, "application_id": APP_ID})

    member_key = await bot.press(raw, REFRESH_ACTION, user=MEMBER)
    elsewhere_key = await bot.press(raw, REFRESH_ACTION, user=MEMBER, channel=OTHER_CHANNEL)
    admin_key = await bot.press(raw, REFRESH_ACTION, user=ADMIN, channel=OTHER_CHANNEL)

    assert (await bot.slack.wait_for_response(member_key))["replace_original"] is True
    assert "Only bot admins" in (await bot.slack.wait_for_response(elsewhere_key))["text"]
    assert (await bot.slack.wait_for_response(admin_key))["replace_original"] is True


async def test_slack_calls_share_one_connection(bot: BotClient, fake_app: FakeApplication) -> None:
    bot.slack.client_ports.clear()
    for _ in range(3):
        await bot.quota(f"admins add <@{MEMBER}|bob>", user=ADMIN)
    api_ports = bot.slack.client_ports
    assert len(api_ports) >= 6  # users.info and the response_url post, three times
    assert len(set(api_ports)) < len(api_ports) / 2


async def test_a_switch_in_flight_when_the_bot_stops_is_finished_and_audited(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    async with serve(settings, slack) as bot:
        await set_platform_token(bot, acedata)
        fake = FakeApplication(acedata)
        await bot.quota(f"link prod {APP_ID}", user=ADMIN)
        card = await card_for(bot)
        fake.latency = 0.3  # the switch is still going when the process is told to stop
        key = await bot.press_switch(card, TOGGLE_ACTION, user=ADMIN)
    # The server has shut down; the switch it had acknowledged was carried to the end.
    assert fake.posts == [{"allow_consume_global": True}]
    assert [row[-2] for row in fallback_rows(db)] == ["changed"]
    assert slack.responses[key][0]["replace_original"] is True
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM fallback_locks")).scalar_one() == 0
