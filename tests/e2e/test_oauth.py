"""OAuth mode: workspaces install through Slack's real redirects (against a local
`oauth.v2.access`), each with its own Slack and Ace Data Cloud tokens, and nothing crosses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import respx
from pydantic import SecretStr
from slack_sdk.oauth.installation_store import Bot
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.db.installations import (
    BOTS_TABLE,
    INSTALLATIONS_TABLE,
    STATE_EXPIRATION_SECONDS,
    EncryptedInstallationStore,
)
from bot.services import installs
from bot.slack import blocks
from bot.slack.ids import REFRESH_ACTION, TOGGLE_ACTION
from bot.slack.install.tokens import InstalledTokens, SlackAccess
from bot.worker import alert_round, digest_round
from tests.support.client import (
    APP_ID,
    CHANNEL,
    OTHER_APP_ID,
    BotClient,
    application,
    everything_stored,
    set_platform_token,
)
from tests.support.oauth import CLIENT_ID, CLIENT_SECRET, INSTALLER_A, Browser, install, workspace_a
from tests.support.server import BOT_TOKEN, serve
from tests.support.slack_server import TEAM_ID, SlackServer, Workspace

TOKEN_A = "platform-v1-" + "a1" * 32
TOKEN_B = "platform-v1-" + "b2" * 32
INSTALLER_B = "UINSTB"
CHANNEL_B = "CB001"


def workspace_b() -> Workspace:
    return Workspace("TBBBB", "Beta", "xoxb-beta-bot-token-9z8y", INSTALLER_B)


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "slack_bot_token": None,
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
    }


@pytest.fixture
def users(slack: SlackServer) -> None:
    """The installers are plain members in Slack: bot admins only by installing."""
    slack.users |= {INSTALLER_A: {"name": "ann"}, INSTALLER_B: {"name": "ben"}}


def mock_workspace_app(
    acedata: respx.MockRouter, token: str, app_id: str, title: str
) -> respx.Route:
    """An application readable only with its own account's token."""
    acedata.get("/usage/apis/aggregate/").respond(404, json={"detail": "Not found."})
    acedata.get("/applications/", params__contains={"scope": "Global"}).respond(
        json={"count": 0, "items": []}
    )
    return acedata.get(
        f"/applications/{app_id}", headers__contains={"authorization": f"Bearer {token}"}
    ).respond(json=application(app_id, title=title))


async def set_up(
    bot: BotClient,
    acedata: respx.MockRouter,
    token: str,
    user: str,
    app_id: str,
    title: str,
    channel: str = CHANNEL,
) -> respx.Route:
    await set_platform_token(bot, acedata, token, user=user)
    route = mock_workspace_app(acedata, token, app_id, title)
    reply = await bot.quota(f"link prod {app_id}", user=user, channel=channel)
    assert reply is not None and "prod" in reply.text
    return route


def bearer(call: Any) -> str:
    return call.headers.get("Authorization", "").removeprefix("Bearer ")


def rows(db: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.01)


async def send_event(
    bot: BotClient, team: str, event: dict[str, Any], *, org_wide_install_of: str | None = None
) -> None:
    org = (
        {"enterprise_id": org_wide_install_of, "is_enterprise_install": True}
        if org_wide_install_of
        else {}
    )
    body = json.dumps(
        {
            **org,
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": event,
        }
    )
    status, _ = await bot.post(body, bot.signed_headers(body), "application/json")
    assert status == 200


@pytest.mark.usefixtures("users")
async def test_two_workspaces_install_and_each_sees_only_its_own(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    a, b = workspace_a(), workspace_b()
    page_a = await install(bot, slack, a, "code-a")
    page_b = await install(bot, slack, b, "code-b")
    assert page_a.status_code == page_b.status_code == 200
    assert "Quota Bot is installed in Acme" in page_a.text
    assert "You are its first bot admin" in page_a.text
    bot_a, bot_b = bot.as_team(a.team_id), bot.as_team(b.team_id)

    route_a = await set_up(bot_a, acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")
    route_b = await set_up(bot_b, acedata, TOKEN_B, INSTALLER_B, OTHER_APP_ID, "Suno", CHANNEL_B)
    card_a = await bot_a.quota("prod", user=INSTALLER_A)
    card_b = await bot_b.quota("prod", user=INSTALLER_B, channel=CHANNEL_B)

    assert card_a is not None and "Midjourney" in card_a.text and "Suno" not in card_a.text
    assert card_b is not None and "Suno" in card_b.text and "Midjourney" not in card_b.text
    # Each application was read only with its own account's token (any other is unmocked).
    assert route_a.called and route_b.called
    # Each workspace's token dialog was opened with that workspace's own bot token.
    assert [bearer(call) for call in slack.calls_to("views.open")] == [a.bot_token, b.bot_token]

    # Digests the worker sends on its own go out with each workspace's token, only its aliases.
    await bot_a.quota("digest daily 09:00 UTC", user=INSTALLER_A)
    await bot_b.quota("digest daily 09:00 UTC", user=INSTALLER_B, channel=CHANNEL_B)
    posted = len(slack.calls_to("chat.postMessage"))
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    assert await digest_round(bot.runtime, access, now=datetime.now(UTC) + timedelta(days=1)) == 2
    digests = slack.calls_to("chat.postMessage")[posted:]
    by_channel = {call.data["channel"]: call for call in digests}
    assert bearer(by_channel[CHANNEL]) == a.bot_token
    assert bearer(by_channel[CHANNEL_B]) == b.bot_token
    assert "Midjourney" in json.dumps(by_channel[CHANNEL].data["blocks"])
    assert "Suno" not in json.dumps(by_channel[CHANNEL].data["blocks"])
    assert "Suno" in json.dumps(by_channel[CHANNEL_B].data["blocks"])

    # Each admin's App Home shows that workspace's token and application, published with its
    # own bot token.
    await send_event(
        bot_a, a.team_id, {"type": "app_home_opened", "user": INSTALLER_A, "tab": "home"}
    )
    await send_event(
        bot_b, b.team_id, {"type": "app_home_opened", "user": INSTALLER_B, "tab": "home"}
    )
    await slack.wait_for_call("views.publish", count=2)
    homes = {call.data["user_id"]: call for call in slack.calls_to("views.publish")}
    home_a, home_b = (json.dumps(homes[user].data["view"]) for user in (INSTALLER_A, INSTALLER_B))
    assert bearer(homes[INSTALLER_A]) == a.bot_token and bearer(homes[INSTALLER_B]) == b.bot_token
    assert "Midjourney" in home_a and TOKEN_A[-4:] in home_a
    assert "Suno" not in home_a and TOKEN_B[-4:] not in home_a
    assert "Suno" in home_b and "Midjourney" not in home_b

    admins = rows(db, "SELECT team_id, user_id FROM bot_admins ORDER BY team_id")
    assert admins == [(a.team_id, INSTALLER_A), (b.team_id, INSTALLER_B)]


@pytest.mark.usefixtures("users")
async def test_workspace_b_cannot_reach_workspace_a_by_alias_application_or_card(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter
) -> None:
    a, b = workspace_a(), workspace_b()
    await install(bot, slack, a, "code-a")
    await install(bot, slack, b, "code-b")
    bot_a, bot_b = bot.as_team(a.team_id), bot.as_team(b.team_id)
    route_a = await set_up(bot_a, acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")
    await set_platform_token(bot_b, acedata, TOKEN_B, user=INSTALLER_B)
    card = await bot_a.quota("prod", user=INSTALLER_A)
    assert card is not None
    reads = route_a.call_count
    toggles = acedata.post(f"/applications/{APP_ID}/update-allow-consume-global/").respond(
        json=application(APP_ID, allow=True)
    )

    by_alias = await bot_b.quota("prod", user=INSTALLER_B)
    by_id = await bot_b.quota(APP_ID, user="UMEMBER")
    refresh = await bot_b.press(card.body, REFRESH_ACTION, user=INSTALLER_B)
    toggle = await bot_b.press_switch(card.body, TOGGLE_ACTION, user=INSTALLER_B)

    assert by_alias is not None and "prod" in by_alias.text and "Midjourney" not in by_alias.text
    assert by_id is not None and "Midjourney" not in by_id.text
    for key in (refresh, toggle):
        answer = await slack.wait_for_response(key)
        assert "Midjourney" not in json.dumps(answer)
    await bot.settle()
    assert route_a.call_count == reads  # nothing was read with anyone's token
    assert toggles.call_count == 0


async def test_a_workspace_that_never_installed_is_told_so(
    bot: BotClient, slack: SlackServer
) -> None:
    reply = await bot.as_team("TNOPE").quota("prod", user="UMEMBER")

    assert reply is not None and reply.text == blocks.NOT_INSTALLED


@pytest.mark.parametrize(
    ("query", "with_cookie", "status", "says"),
    [
        ({"error": "access_denied"}, True, 200, "cancelled in Slack"),
        ({"code": "code-a", "state": "forged"}, True, 401, "expired or was already used"),
        ({"code": "code-a"}, False, 400, "cookie that ties it to this browser is missing"),
        ({"code": "wrong-code"}, True, 401, "did not accept the authorization code"),
        ({"state": "STATE"}, True, 401, "did not include an authorization code"),
    ],
    ids=["access denied", "forged state", "no cookie", "wrong code", "no code"],
)
async def test_bad_oauth_input_gets_a_clear_page_and_stores_nothing(
    bot: BotClient,
    slack: SlackServer,
    db: Engine,
    query: dict[str, str],
    with_cookie: bool,
    status: int,
    says: str,
) -> None:
    slack.codes["code-a"] = workspace_a()
    async with Browser(bot.base_url) as browser:
        page = await browser.get("/slack/install")
        cookie = page.headers["set-cookie"].split(";")[0]
        state = cookie.split("=", 1)[1]
        params = {"state": state} | {k: v.replace("STATE", state) for k, v in query.items()}
        if params["state"] == "forged":  # a state this bot never issued, cookie and all
            cookie = "slack-app-oauth-state=forged"
        answer = await browser.get(
            "/slack/oauth_redirect",
            params=params,
            headers={"cookie": cookie} if with_cookie else {},
        )

    assert answer.status_code == status
    assert "Quota Bot was not installed" in answer.text and says in answer.text
    assert 'href="/slack/install"' in answer.text
    assert rows(db, "SELECT * FROM slack_installations") == []
    assert rows(db, "SELECT * FROM slack_bots") == []
    assert rows(db, "SELECT * FROM workspaces") == []


async def test_a_used_install_link_cannot_be_used_again(
    bot: BotClient, slack: SlackServer, db: Engine
) -> None:
    slack.codes["code-a"] = workspace_a()
    async with Browser(bot.base_url) as browser:
        page = await browser.get("/slack/install")
        cookie = page.headers["set-cookie"].split(";")[0]
        params = {"code": "code-a", "state": cookie.split("=", 1)[1]}
        first = await browser.get(
            "/slack/oauth_redirect", params=params, headers={"cookie": cookie}
        )
        again = await browser.get(
            "/slack/oauth_redirect", params=params, headers={"cookie": cookie}
        )

    assert first.status_code == 200
    assert again.status_code == 401 and "expired or was already used" in again.text
    assert len(rows(db, "SELECT * FROM slack_bots")) == 1


@pytest.mark.usefixtures("users")
async def test_uninstall_deletes_secrets_and_pauses_schedules_and_reinstall_restores(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    a, b = workspace_a(), workspace_b()
    await install(bot, slack, a, "code-a")
    await install(bot, slack, b, "code-b")
    bot_a, bot_b = bot.as_team(a.team_id), bot.as_team(b.team_id)
    await set_up(bot_a, acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")
    await set_up(bot_b, acedata, TOKEN_B, INSTALLER_B, OTHER_APP_ID, "Suno", CHANNEL_B)
    await bot_a.quota("digest daily 09:00 UTC", user=INSTALLER_A)
    await bot_a.quota("alert prod below 10", user=INSTALLER_A)

    await send_event(bot_a, a.team_id, {"type": "app_uninstalled", "event_ts": "1.0"})
    await eventually(lambda: not rows(db, "SELECT * FROM slack_bots WHERE team_id = 'TAAAA'"))

    assert rows(db, "SELECT * FROM slack_installations WHERE team_id = 'TAAAA'") == []
    assert rows(
        db, "SELECT acedata_token, acedata_token_last4 FROM workspaces WHERE team_id = 'TAAAA'"
    ) == [(None, None)]
    assert rows(db, "SELECT paused_reason FROM digest_schedules") == [("uninstalled",)]
    assert rows(db, "SELECT paused_reason FROM quota_alerts") == [("uninstalled",)]
    assert rows(db, "SELECT team_id, name FROM aliases ORDER BY team_id") == [
        (a.team_id, "prod"),
        (b.team_id, "prod"),
    ]
    refused = await bot_a.quota("prod", user=INSTALLER_A)
    assert refused is not None and refused.text == blocks.NOT_INSTALLED
    still_b = await bot_b.quota("prod", user=INSTALLER_B, channel=CHANNEL_B)
    assert still_b is not None and "Suno" in still_b.text

    page = await install(bot, slack, a, "code-a2")
    assert page.status_code == 200 and "first bot admin" not in page.text
    await set_platform_token(bot_a, acedata, TOKEN_A, user=INSTALLER_A)
    card = await bot_a.quota("prod", user=INSTALLER_A)

    assert card is not None and "Midjourney" in card.text
    assert rows(db, "SELECT paused_reason FROM digest_schedules") == [(None,)]
    assert rows(db, "SELECT paused_reason FROM quota_alerts") == [(None,)]


@pytest.mark.usefixtures("users")
async def test_revoked_bot_tokens_are_deleted_like_an_uninstall(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    a = workspace_a()
    await install(bot, slack, a, "code-a")
    bot_a = bot.as_team(a.team_id)
    await set_up(bot_a, acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")

    await send_event(
        bot_a, a.team_id, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}
    )
    await eventually(lambda: not rows(db, "SELECT * FROM slack_bots"))

    assert rows(db, "SELECT acedata_token FROM workspaces") == [(None,)]
    audit = rows(db, "SELECT action, outcome FROM audit_events WHERE action = 'uninstalled'")
    assert audit == [("uninstalled", "tokens_revoked")]


@pytest.mark.usefixtures("users")
async def test_no_plaintext_slack_or_acedata_token_is_stored(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    a = workspace_a(refresh_token="xoxe-1-refresh-acme-77aa", expires_in=60)
    b = workspace_b()
    await install(bot, slack, a, "code-a")
    await install(bot, slack, b, "code-b")
    await set_up(bot.as_team(a.team_id), acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")
    await set_up(bot.as_team(b.team_id), acedata, TOKEN_B, INSTALLER_B, OTHER_APP_ID, "Suno")
    await bot.settle()

    stored = everything_stored(db)
    for secret in (a.bot_token, b.bot_token, a.refresh_token, TOKEN_A, TOKEN_B, CLIENT_SECRET):
        assert secret is not None and secret not in stored
    assert "slack_bots" in stored and a.team_id in stored  # the rows are there, encrypted


@pytest.mark.usefixtures("users")
async def test_expiring_tokens_are_refreshed_for_requests_and_for_the_worker(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    # Expires within the refresh margin: every use refreshes it first.
    a = workspace_a(refresh_token="xoxe-1-refresh-acme-77aa", expires_in=60)
    await install(bot, slack, a, "code-a")
    bot_a = bot.as_team(a.team_id)
    await set_up(bot_a, acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")

    refreshes = slack.calls_to("oauth.v2.access")[1:]
    assert refreshes and all(c.data["grant_type"] == "refresh_token" for c in refreshes)
    dialog = slack.calls_to("views.open")[-1]
    assert bearer(dialog).startswith(f"{a.bot_token}-r")  # never the expiring one

    await bot_a.quota("alert prod below 1000", user=INSTALLER_A)
    before = a.refreshed
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    await alert_round(bot.runtime, access, now=datetime.now(UTC) + timedelta(hours=1))

    assert a.refreshed == before + 1
    alert = slack.calls_to("chat.postMessage")[-1]
    assert bearer(alert) == f"{a.bot_token}-r{a.refreshed}"


async def test_two_processes_refreshing_one_workspace_both_get_a_working_token(
    bot: BotClient, slack: SlackServer, db: Engine
) -> None:
    """Refresh tokens are single-use: a web process and a worker refreshing at once must not
    spend the same one (the loser would be told to reinstall)."""
    a = workspace_a(refresh_token="xoxe-1-refresh-acme-77aa", expires_in=60)
    a.single_use_refresh = True
    await install(bot, slack, a, "code-a")
    assert bot.runtime is not None
    web, worker = (SlackAccess.open(bot.runtime, retry_seconds=0) for _ in range(2))

    clients = await asyncio.gather(*(access.client_for(a.team_id) for access in (web, worker)))

    assert all(client is not None for client in clients)
    refreshes = [c for c in slack.calls_to("oauth.v2.access") if c.data.get("grant_type")]
    assert [c.data["refresh_token"] for c in refreshes] == [
        "xoxe-1-refresh-acme-77aa",
        "xoxe-1-refresh-acme-77aa~1",
    ]
    stored = rows(db, "SELECT bot_refresh_token FROM slack_bots")
    assert len(stored) == 1 and stored[0][0] != a.refresh_token  # ciphertext, of the live one


class SaveFailsOnce(EncryptedInstallationStore):
    """The installation store, whose first save of a refreshed bot meets a stopped database."""

    failures = 1

    async def async_save_bot(self, bot: Bot) -> None:
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE slack_bots", {}, Exception("the database stopped"))
        await super().async_save_bot(bot)


async def test_a_refreshed_token_the_database_could_not_take_is_kept_and_saved_later(
    bot: BotClient, slack: SlackServer, db: Engine
) -> None:
    """Slack retires the old pair the moment it refreshes: the new one must not be lost."""
    a = workspace_a(refresh_token="xoxe-1-refresh-acme-77aa", expires_in=60)
    a.single_use_refresh = True
    await install(bot, slack, a, "code-a")
    runtime = bot.runtime
    assert runtime is not None
    store = SaveFailsOnce(
        client_id=CLIENT_ID,
        engine=runtime.db.engine,
        bots_table_name=BOTS_TABLE,
        installations_table_name=INSTALLATIONS_TABLE,
    )
    tokens = InstalledTokens(
        store,
        runtime.db,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        client=runtime.web_client(None),
    )

    first = await tokens.for_team(a.team_id)
    second = await tokens.for_team(a.team_id)

    assert first is not None and second is not None
    assert (first.token, second.token) == (f"{a.bot_token}-r1", f"{a.bot_token}-r2")
    refreshes = [c for c in slack.calls_to("oauth.v2.access") if c.data.get("grant_type")]
    assert [c.data["refresh_token"] for c in refreshes][-1] == "xoxe-1-refresh-acme-77aa~1"
    assert store.failures == 0


async def test_a_single_workspace_deployment_switched_to_oauth_keeps_its_setup(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    async with serve(single_workspace(settings), slack) as before:
        await set_up(before, acedata, TOKEN_A, "UADMIN", APP_ID, "Midjourney")
        await before.quota("admins add <@ULISTED|carol>", user="UADMIN")
    async with serve(settings, slack) as after:
        page = await install(after, slack, Workspace(TEAM_ID, "Acme", "xoxb-new", "UOTHER"), "c")
        card = await after.quota("prod", user="UMEMBER")

    assert "first bot admin" not in page.text  # it has admins already
    assert card is not None and "Midjourney" in card.text
    assert rows(db, "SELECT user_id FROM bot_admins") == [("ULISTED",)]
    actions = {action for (action,) in rows(db, "SELECT action FROM audit_events")}
    assert {"token_set", "alias_linked", "admin_added", "installed"} <= actions


def single_workspace(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_client_id": None,
            "slack_client_secret": None,
        }
    )


async def test_install_pages_say_oauth_is_off_in_single_workspace_mode(
    settings: Settings, slack: SlackServer
) -> None:
    async with (
        serve(single_workspace(settings), slack) as bot,
        Browser(bot.base_url) as browser,
    ):
        page = await browser.get("/slack/install")

    assert page.status_code == 404
    assert "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in page.text


async def test_an_org_wide_install_serves_each_workspace_of_the_org_on_its_own(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    org = Workspace("EORG1", "Org", "xoxb-org-bot-token-55aa", INSTALLER_A, "EORG1", org_wide=True)
    page = await install(bot, slack, org, "code-org")
    one = bot.as_team("TONE1", org_wide_install_of="EORG1")
    two = bot.as_team("TTWO2", org_wide_install_of="EORG1")

    assert "installed in your organization" in page.text
    await set_up(one, acedata, TOKEN_A, "UADMIN", APP_ID, "Midjourney")
    card = await one.quota("prod", user="UMEMBER")
    elsewhere = await two.quota("prod", user="UMEMBER")
    assert card is not None and "Midjourney" in card.text
    assert elsewhere is not None and "no alias *prod* here" in elsewhere.text

    # The worker, outside any request, reaches that workspace with the org's token.
    await one.quota("digest daily 09:00 UTC", user="UADMIN")
    posted = len(slack.calls_to("chat.postMessage"))
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    assert await digest_round(bot.runtime, access, now=datetime.now(UTC) + timedelta(days=1)) == 1
    (digest,) = slack.calls_to("chat.postMessage")[posted:]
    assert bearer(digest) == org.bot_token

    # A workspace of the same org with an installation of its own is not the org's to remove.
    own = Workspace("TOWN3", "Own", "xoxb-own-bot-token-33cc", INSTALLER_B, "EORG1")
    await install(bot, slack, own, "code-own")
    own_client = bot.as_team("TOWN3", enterprise="EORG1")
    await set_platform_token(own_client, acedata, TOKEN_B, user=INSTALLER_B)

    await send_event(one, "TONE1", {"type": "app_uninstalled"}, org_wide_install_of="EORG1")
    await eventually(lambda: not rows(db, "SELECT * FROM slack_bots WHERE team_id IS NULL"))
    tokens = rows(db, "SELECT team_id, acedata_token IS NULL FROM workspaces ORDER BY team_id")
    assert tokens == [("TONE1", True), ("TOWN3", False), ("TTWO2", True)]
    assert rows(db, "SELECT team_id FROM slack_bots") == [("TOWN3",)]
    assert rows(db, "SELECT paused_reason FROM digest_schedules") == [("uninstalled",)]

    # Installed org-wide again: the org's workspaces pick up where they were.
    await install(bot, slack, org, "code-org-2")
    assert rows(db, "SELECT paused_reason FROM digest_schedules") == [(None,)]
    installed = rows(db, "SELECT team_id FROM audit_events WHERE action = 'installed'")
    assert sorted(installed) == [("TONE1",), ("TOWN3",), ("TTWO2",)]


async def uninstalled_at(bot: BotClient, team: str, at: int) -> None:
    """Slack's app_uninstalled for `team`, saying it happened at `at` (epoch seconds)."""
    body = json.dumps(
        {
            "team_id": team,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": at,
            "event": {"type": "app_uninstalled"},
        }
    )
    status, _ = await bot.post(body, bot.signed_headers(body), "application/json")
    assert status == 200


@pytest.mark.usefixtures("users")
async def test_an_uninstall_older_than_the_installation_is_ignored(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    """Slack redelivers an uninstall after a quick re-install: the new installation stays."""
    a = workspace_a()
    await install(bot, slack, a, "code-a")
    bot_a = bot.as_team(a.team_id)
    await set_up(bot_a, acedata, TOKEN_A, INSTALLER_A, APP_ID, "Midjourney")

    await uninstalled_at(bot_a, a.team_id, int(time.time()) - 60)
    await bot.settle()
    assert rows(db, "SELECT count(*) FROM slack_bots WHERE team_id = 'TAAAA'") == [(1,)]
    assert rows(db, "SELECT acedata_token IS NULL FROM workspaces") == [(False,)]

    await uninstalled_at(bot_a, a.team_id, int(time.time()) + 1)
    await eventually(lambda: not rows(db, "SELECT * FROM slack_bots WHERE team_id = 'TAAAA'"))
    assert rows(db, "SELECT acedata_token IS NULL FROM workspaces") == [(True,)]


@pytest.mark.usefixtures("users")
async def test_a_reinstall_keeps_only_the_newest_installation(
    bot: BotClient, slack: SlackServer, db: Engine
) -> None:
    a = workspace_a()
    await install(bot, slack, a, "code-a")
    await install(bot, slack, a, "code-a2")

    assert rows(db, "SELECT count(*) FROM slack_bots WHERE team_id = 'TAAAA'") == [(1,)]
    assert rows(db, "SELECT count(*) FROM slack_installations WHERE team_id = 'TAAAA'") == [(1,)]


@pytest.mark.usefixtures("users")
async def test_a_workspaces_own_installation_wins_and_its_org_is_never_rewritten(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter, db: Engine
) -> None:
    """A workspace with its own installation, named in a request together with another org
    that installed the app org-wide: its own token serves it, and its org stays recorded."""
    own = Workspace("TOWN3", "Own", "xoxb-own-bot-token-33cc", INSTALLER_B, "EORG1")
    await install(bot, slack, own, "code-own")
    other = Workspace(
        "EEVIL", "Evil", "xoxb-evil-bot-token-66dd", INSTALLER_A, "EEVIL", org_wide=True
    )
    await install(bot, slack, other, "code-evil")
    own_client = bot.as_team("TOWN3", enterprise="EORG1")
    await set_platform_token(own_client, acedata, TOKEN_B, user=INSTALLER_B)
    recorded = rows(db, "SELECT enterprise_id FROM workspaces WHERE team_id = 'TOWN3'")

    crafted = bot.as_team("TOWN3", org_wide_install_of="EEVIL")
    opened = len(slack.calls_to("views.open"))
    await crafted.quota("token", user=INSTALLER_B, expect_reply=False)
    dialog = await slack.wait_for_call("views.open", count=opened + 1)

    assert bearer(dialog) == own.bot_token
    assert rows(db, "SELECT enterprise_id FROM workspaces WHERE team_id = 'TOWN3'") == recorded
    assert recorded != [("EEVIL",)]


@pytest.mark.usefixtures("users")
async def test_purging_an_org_deletes_its_org_wide_installation(
    bot: BotClient, slack: SlackServer, db: Engine
) -> None:
    org = Workspace("EORG1", "Org", "xoxb-org-bot-token-55aa", INSTALLER_A, "EORG1", org_wide=True)
    await install(bot, slack, org, "code-org")
    assert bot.runtime is not None

    held = await installs.held_for(bot.runtime.db, team_id="EORG1")
    deleted = await installs.purge(bot.runtime.db, team_id="EORG1")

    assert held["slack_bots"] == deleted["slack_bots"] == 1
    assert rows(db, "SELECT count(*) FROM slack_bots") == [(0,)]
    assert rows(db, "SELECT count(*) FROM slack_installations") == [(0,)]


async def test_a_forged_error_in_the_redirect_is_neither_echoed_nor_logged(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "x\n2026-11-26 WARNING bot: <script>alert(1)</script>"
    async with Browser(bot.base_url) as browser:
        page = await browser.get("/slack/oauth_redirect", params={"error": forged})

    assert page.status_code == 200 and "Quota Bot was not installed" in page.text
    assert "<script>" not in page.text and "unrecognised error" in page.text
    lines = [r.getMessage() for r in caplog.records if "Installation failed" in r.getMessage()]
    assert lines == ["Installation failed: unrecognised error"]


async def test_opening_the_install_page_writes_nothing(bot: BotClient, db: Engine) -> None:
    """Anyone can open /slack/install: its state is signed, not stored."""
    async with Browser(bot.base_url) as browser:
        pages = [await browser.get("/slack/install") for _ in range(3)]
    await asyncio.sleep(0.05)  # a write, were there one, would have been batched by now

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert len({page.headers["set-cookie"] for page in pages}) == 3
    assert rows(db, "SELECT * FROM slack_oauth_states") == []
    assert rows(db, "SELECT * FROM seen_request_signatures") == []


async def test_install_links_left_by_an_earlier_version_are_forgotten_once_expired(
    bot: BotClient, db: Engine
) -> None:
    with db.begin() as connection:
        connection.execute(
            text("INSERT INTO slack_oauth_states (state, expire_at) VALUES ('old', :at)"),
            {"at": datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=10)},
        )
    assert bot.runtime is not None

    soon = await installs.purge_expired_states(bot.runtime.db, now=datetime.now(UTC))
    later = datetime.now(UTC) + timedelta(seconds=STATE_EXPIRATION_SECONDS + 1)
    expired = await installs.purge_expired_states(bot.runtime.db, now=later)

    assert (soon, expired) == (0, 1)
    assert rows(db, "SELECT * FROM slack_oauth_states") == []


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "slack_bot_token": None,
            "slack_client_id": CLIENT_ID,
            "slack_client_secret": CLIENT_SECRET,
            "acedata_platform_token": TOKEN_B,
        }
    ],
)
async def test_the_operators_acedata_token_is_never_lent_to_an_installed_workspace(
    bot: BotClient, slack: SlackServer, acedata: respx.MockRouter
) -> None:
    stranger = workspace_a()
    await install(bot, slack, stranger, "code-a")

    reply = await bot.as_team(stranger.team_id).quota(f"link prod {APP_ID}", user=INSTALLER_A)

    assert reply is not None and reply.text == blocks.NO_TOKEN
    assert not acedata.calls  # nothing was read with the operator's token


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("failure", ["refused", "unreachable"])
async def test_a_token_that_cannot_be_refreshed_gets_a_clear_answer(
    bot: BotClient, slack: SlackServer, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    a = workspace_a(refresh_token="xoxe-1-refresh-acme-77aa", expires_in=60)
    await install(bot, slack, a, "code-a")
    if failure == "refused":
        slack.failures["oauth.v2.access"] = "invalid_refresh_token"
    else:
        slack.drops.add("oauth.v2.access")

    fields = bot.as_team(a.team_id).command_fields("help", user=INSTALLER_A)
    status, body = await bot.post_form(fields)
    told = await slack.wait_for_response(fields["response_url"].rsplit("/", 1)[1])

    assert (status, body) == (200, "")
    assert told["text"] == blocks.NOT_INSTALLED
    assert not [r for r in caplog.records if r.exc_info and not r.name.startswith("aiohttp")]
    assert a.bot_token not in caplog.text and "xoxe-1-refresh" not in caplog.text


async def test_a_refused_code_is_one_fixed_log_line_whatever_it_holds(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    code = "abc PART2\n2026-01-01 00:00:00,000 CRITICAL bot: forged line"
    async with Browser(bot.base_url) as browser:
        page = await browser.get("/slack/install")
        cookie = page.headers["set-cookie"].split(";")[0]
        state = cookie.split("=", 1)[1]
        answer = await browser.get(
            "/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers={"cookie": cookie},
        )

    assert answer.status_code == 401 and "did not accept the authorization code" in answer.text
    assert "PART2" not in caplog.text and "forged line" not in caplog.text
    assert "abc" not in answer.text
    refused = [r.getMessage() for r in caplog.records if "oauth.v2.access" in r.getMessage()]
    assert refused == ["Slack's oauth.v2.access refused the authorization code"]


async def test_the_install_link_passes_on_only_a_team_id(bot: BotClient) -> None:
    smuggled = "T1&user_scope=channels:history&redirect_uri=https://evil.example"
    async with Browser(bot.base_url) as browser:
        page = await browser.get("/slack/install", params={"team": smuggled})
        plain = await browser.get("/slack/install", params={"team": "T0123ABC"})

    assert page.status_code == 200
    assert "evil.example" not in page.text and "channels:history" not in page.text
    assert "team=T0123ABC" in plain.text
