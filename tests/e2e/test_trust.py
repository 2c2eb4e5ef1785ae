"""Trust under faults and hostile tenants (issue 14): each test failed before its fix."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest
import respx
from sqlalchemy import Engine, text

from bot.services import aliases
from bot.services.workspaces import platform_token, save_token
from bot.slack import blocks
from bot.slack.ids import TOKEN_ACTION, TOKEN_BLOCK, TOKEN_MODAL_CALLBACK
from bot.version import version
from tests.support.client import (
    ADMIN,
    MEMBER,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    TOKEN_OWNER,
    BotClient,
    token_value,
)
from tests.support.slack_server import TEAM_ID, SlackServer

OTHER_TEAM = "T0002"


async def health(bot: BotClient) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(bot.base_url + "/healthz") as answer:
        return answer.status, await answer.json()


def home_event(event_id: str, *, body_team: str = TEAM_ID, user: str = ADMIN) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": body_team,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0001",
                "tab": "home",
                "event_ts": "1700000000.000001",
            },
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True, "enterprise_id": None}
            ],
        }
    )


async def test_an_event_slack_delivers_again_is_acted_on_once(linked: BotClient) -> None:
    """Slack's retry of an event is signed anew; its event_id is the same."""
    body = home_event("EvREDELIVERED1")
    first = await linked.post(body, linked.signed_headers(body), "application/json")
    await linked.slack.wait_for_call("views.publish")
    retry = await linked.post(
        body, linked.signed_headers(body, timestamp=int(time.time()) - 1), "application/json"
    )
    await linked.settle()

    assert first[0] == retry[0] == 200
    assert len(linked.slack.calls_to("views.publish")) == 1


async def test_app_home_shows_the_authorized_workspace_whatever_the_body_says(
    linked: BotClient,
) -> None:
    assert linked.runtime is not None
    await aliases.link(
        linked.runtime.db,
        team_id=OTHER_TEAM,
        channel_id=None,
        name="their-secret-app",
        application_id=OTHER_APP_ID,
        user_id="UOTHER",
    )
    body = home_event("EvCROSSTEAM1", body_team=OTHER_TEAM)

    status, _ = await linked.post(body, linked.signed_headers(body), "application/json")
    call = await linked.slack.wait_for_call("views.publish")

    assert status == 200
    view = json.dumps(call.data)
    assert "their-secret-app" not in view
    assert "prod" in view


async def test_a_token_dialog_naming_two_teams_saves_under_the_authorized_one(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    """A Slack Connect modal: the submitter's team is A, the app's installed team is B, and the
    user is an admin of B. A's token must stay as it was."""
    assert linked.runtime is not None
    db = linked.runtime.db
    await save_token(db, team_id=OTHER_TEAM, token="platform-v1-a-own", account="a", user_id="U")
    acedata.get("/platform-tokens/me/").respond(json=TOKEN_OWNER)
    payload = {
        "type": "view_submission",
        "team": {"id": OTHER_TEAM, "domain": "a"},
        "user": {"id": ADMIN, "username": "admin", "team_id": OTHER_TEAM},
        "api_app_id": "A0001",
        "view": {
            "id": "V0001",
            "type": "modal",
            "callback_id": TOKEN_MODAL_CALLBACK,
            "app_installed_team_id": TEAM_ID,
            "state": {"values": {TOKEN_BLOCK: {TOKEN_ACTION: token_value(PLATFORM_TOKEN)}}},
        },
    }

    status, _ = await linked.post_form({"payload": json.dumps(payload)})

    assert status == 200
    assert await platform_token(db, OTHER_TEAM, None) == "platform-v1-a-own"
    assert await platform_token(db, TEAM_ID, None) == PLATFORM_TOKEN


@pytest.mark.parametrize(
    ("fault", "said"),
    [("http_503", "`http_503`"), ("ratelimited", "`ratelimited`")],
)
async def test_setting_a_digest_while_slack_is_not_answering_says_try_again(
    linked: BotClient, slack: SlackServer, db: Engine, fault: str, said: str
) -> None:
    if fault == "http_503":
        slack.http_errors["chat.postMessage"] = 503
    else:
        slack.failures["chat.postMessage"] = fault

    reply = await linked.quota("digest daily 09:00 UTC", user=ADMIN)

    assert reply is not None
    assert "rate limiting the bot or not answering" in reply.text and said in reply.text
    assert "nothing was saved" in reply.text and "Invite" not in reply.text
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM digest_schedules")).scalar() == 0


async def test_healthz_reports_the_database_and_the_scheduler(linked: BotClient) -> None:
    answer = await health(linked)

    assert answer == (
        200,
        {
            "status": "ok",
            "version": version(),
            "database": "ok",
            "scheduler": {"last_round_seconds_ago": None, "running": True},
        },
    )


async def test_with_no_worker_running_admins_are_told_digests_are_not_sent(
    linked: BotClient, slack: SlackServer
) -> None:
    await linked.quota("digest daily 09:00 UTC", user=ADMIN)
    await linked.quota("alert prod below 10", user=ADMIN)

    digest = await linked.quota("digest", user=ADMIN)
    alert = await linked.quota("alert", user=ADMIN)
    member = await linked.quota("digest", user=MEMBER)
    status, answer = await health(linked)

    assert digest is not None and alert is not None and member is not None
    assert digest.text.startswith(blocks.NO_WORKER)
    assert alert.text.startswith(blocks.NO_WORKER)
    assert blocks.NO_WORKER not in member.text
    assert (status, answer["scheduler"]["running"]) == (200, False)
