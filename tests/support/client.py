"""Test-side helpers: a client that signs requests the way Slack does, and Ace Data Cloud data."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import respx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, text

from bot.config import Settings
from bot.db.models import Base
from bot.runtime import Runtime
from bot.slack.ids import TOKEN_ACTION, TOKEN_BLOCK, TOKEN_MODAL_CALLBACK

from .slack_server import TEAM_ID, Call, SlackServer

ACEDATA_API = "https://acedata.test/api/v1"
ADMIN = "UADMIN"
MEMBER = "UMEMBER"
LISTED_ADMIN = "ULISTED"
CHANNEL = "C0001"
OTHER_CHANNEL = "C0002"
APP_ID = "107f8d0f-e465-4a7e-a49e-d633d26f7aa2"
OTHER_APP_ID = "2b7c1d3e-0f4a-4b5c-8d6e-7f8091a2b3c4"
GLOBAL_APP_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
TOKEN_OWNER = {"id": "u-1", "username": "acme-ops", "email": "ops@acme.test", "nickname": "Ops"}
PLATFORM_TOKEN = "platform-v1-" + "5b8fbef60bc547098034db3e9f36a623731c490abe854f72972a0a3473b4c56b"

_keys = itertools.count(1)


def application(
    app_id: str = APP_ID,
    *,
    remaining: Any = 493.2210000000001,
    used: Any = 21.778999999999996,
    allow: bool = False,
    title: str = "Midjourney",
    scope: str = "Individual",
) -> dict[str, Any]:
    return {
        "id": app_id,
        "service_id": "d87e5e99-b797-4ade-9e73-b896896b0461",
        "service": {"id": "d87e5e99", "title": title, "alias": title.lower(), "unit": "Credits"},
        "user_id": "b87f67c1-b04f-4332-99a1-7a5e651331c6",
        "type": "Usage",
        "scope": scope,
        "remaining_amount": remaining,
        "used_amount": used,
        "allow_consume_global": allow,
        "expired_at": None,
        "created_at": "2024-05-30T14:41:20.052849Z",
        "updated_at": "2024-08-16T07:51:15.603207Z",
        "tags": None,
    }


def mock_quota(
    router: respx.MockRouter, app_id: str = APP_ID, *, global_remaining: Any = 1234.5, **fields: Any
) -> respx.Route:
    """The application and the account's global balance, as Ace Data Cloud would answer."""
    router.get("/applications/", params__contains={"scope": "Global"}).respond(
        json={
            "count": 1,
            "items": [application(GLOBAL_APP_ID, remaining=global_remaining, scope="Global")],
        }
    )
    return router.get(f"/applications/{app_id}").respond(json=application(app_id, **fields))


async def set_platform_token(
    bot: BotClient, acedata: respx.MockRouter, token: str = PLATFORM_TOKEN, *, user: str = ADMIN
) -> dict[str, Any]:
    """Do what an admin does: `/quota token`, paste the token into the modal, submit."""
    acedata.get("/platform-tokens/me/").respond(json=TOKEN_OWNER)
    opened = len(bot.slack.calls_to("views.open"))
    reply = await bot.quota("token", user=user, expect_reply=False)
    assert reply is None
    await bot.slack.wait_for_call("views.open", count=opened + 1)
    return await bot.submit_view(
        TOKEN_MODAL_CALLBACK, {TOKEN_BLOCK: {TOKEN_ACTION: token_value(token)}}, user=user
    )


def token_value(token: str) -> dict[str, str]:
    return {"type": "plain_text_input", "value": token}


def answer_with(route: respx.Route, outcome: httpx.Response | Exception) -> None:
    """Make `route` answer with a response, or fail with a transport error."""
    if isinstance(outcome, Exception):
        route.mock(side_effect=outcome)
    else:
        route.mock(return_value=outcome)


@dataclass
class Reply:
    """What the user sees: the ack body, or the first message posted to the response_url."""

    body: dict[str, Any]
    via_ack: bool

    @property
    def response_type(self) -> str:
        return self.body.get("response_type", "ephemeral")

    @property
    def mrkdwn(self) -> list[str]:
        """The texts of the message's mrkdwn objects (the ones Slack parses for mentions)."""
        return _texts(self.body.get("blocks") or [], only_mrkdwn=True)

    @property
    def text(self) -> str:
        """All text of the message and its blocks, joined."""
        parts = [str(self.body.get("text") or "")]
        parts += _texts(self.body.get("blocks") or [])
        return "\n".join(parts)


def find_button(blocks: list[dict[str, Any]], prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button" and element["action_id"].startswith(prefix):
                return block, element
    raise AssertionError(f"no button {prefix!r} on the card")


def card_with_button(action_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """A minimal card holding one button, for payloads a test writes by hand."""
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": action_id},
        "value": json.dumps(value),
    }
    return {
        "blocks": [
            {"type": "actions", "block_id": "quota_card_actions:command", "elements": [button]}
        ]
    }


def blocks_of(call: Call) -> list[dict[str, Any]]:
    """The blocks of a Web API call the bot made (sent as JSON text or as a list)."""
    raw = call.data.get("blocks")
    return json.loads(raw) if isinstance(raw, str) else list(raw or [])


# The console's link buttons every card, digest line and alert ends with.
LINKS = ("Open in console", "Top up")


def button_labels(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["text"]["text"]
        for block in blocks
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


def _texts(value: Any, *, only_mrkdwn: bool = False) -> list[str]:
    if isinstance(value, dict):
        wanted = not only_mrkdwn or value.get("type") == "mrkdwn"
        found = [value["text"]] if wanted and isinstance(value.get("text"), str) else []
        return found + [t for item in value.values() for t in _texts(item, only_mrkdwn=only_mrkdwn)]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item, only_mrkdwn=only_mrkdwn)]
    return []


def cli_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without any of the bot's settings, plus `env`: what a CLI run
    in a test sees, whatever the developer has exported."""
    names = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in names} | env


class BotClient:
    def __init__(self, base_url: str, secret: str, slack: SlackServer, settings: Settings):
        self.base_url = base_url
        self.slack = slack
        self.settings = settings
        self._verifier = SignatureVerifier(secret)
        self._http = aiohttp.ClientSession()

    runtime: Runtime | None = None
    # The workspace the requests come from, and its org when the app is installed org-wide.
    team: str = TEAM_ID
    enterprise: str | None = None
    org_wide: bool = False

    def as_team(
        self, team: str, *, org_wide_install_of: str | None = None, enterprise: str | None = None
    ) -> BotClient:
        """The same client, sending requests from workspace `team`, of Enterprise Grid org
        `enterprise` (or of the org that installed the app org-wide)."""
        other = copy.copy(self)
        other.team = team
        other.enterprise = org_wide_install_of or enterprise
        other.org_wide = org_wide_install_of is not None
        return other

    def _org(self) -> dict[str, Any]:
        """The fields an interaction payload carries about the org and its install."""
        org = {"enterprise": {"id": self.enterprise}} if self.enterprise else {}
        return {"is_enterprise_install": self.org_wide, **org}

    async def close(self) -> None:
        await self._http.close()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has finished the work it acknowledged, to assert what it did not
        do."""
        assert self.runtime is not None
        for _ in range(int(timeout / 0.01)):
            if not self.runtime.in_flight:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the bot is still working")

    def signed_headers(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "x-slack-request-timestamp": ts,
            "x-slack-signature": self._verifier.generate_signature(timestamp=ts, body=body),
        }

    async def post(self, body: str, headers: dict[str, str], content_type: str) -> tuple[int, str]:
        async with self._http.post(
            self.base_url + "/slack/events",
            data=body.encode(),
            headers={**headers, "content-type": content_type},
        ) as response:
            return response.status, await response.text()

    async def post_form(self, fields: dict[str, str], **sign: Any) -> tuple[int, str]:
        body = urlencode(fields)
        return await self.post(body, self.signed_headers(body, **sign), FORM)

    def command_fields(self, text: str, *, user: str, channel: str = CHANNEL) -> dict[str, str]:
        key = f"cmd{next(_keys)}"
        return {
            "token": "legacy",
            "team_id": self.team,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/quota",
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "true" if self.org_wide else "false",
            **({"enterprise_id": self.enterprise} if self.enterprise else {}),
            "response_url": self.slack.response_url(key),
            "trigger_id": f"trigger.{key}",
        }

    async def quota(
        self, text: str, *, user: str, channel: str = CHANNEL, expect_reply: bool = True
    ) -> Reply | None:
        """Run `/quota <text>` and return what the user sees first."""
        fields = self.command_fields(text, user=user, channel=channel)
        status, body = await self.post_form(fields)
        assert status == 200, body
        if body:
            return Reply(json.loads(body), via_ack=True)
        if not expect_reply:
            return None
        key = fields["response_url"].rsplit("/", 1)[1]
        return Reply(await self.slack.wait_for_response(key), via_ack=False)

    def action_payload(
        self,
        card: dict[str, Any],
        action_prefix: str,
        *,
        user: str,
        channel: str = CHANNEL,
        team: str | None = None,
        value: str | None = None,
        message_ts: str = "1700000000.000100",
    ) -> tuple[dict[str, Any], str]:
        """A block_actions payload for pressing the button of `card` whose action_id starts
        with `action_prefix`; returns it and the key of its response_url."""
        team = team or self.team
        block, button = find_button(card["blocks"], action_prefix)
        key = f"act{next(_keys)}"
        payload = {
            "type": "block_actions",
            "team": {"id": team, "domain": "acme", "enterprise_id": None},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
            "api_app_id": "A0001",
            "trigger_id": f"trigger.{key}",
            **self._org(),
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "channel": {"id": channel, "name": "ops"},
            "message": {"ts": message_ts, "blocks": card["blocks"], "text": card.get("text")},
            "response_url": self.slack.response_url(key),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block["block_id"],
                    "value": button["value"] if value is None else value,
                    "text": button["text"],
                    "action_ts": "1700000001.0",
                }
            ],
            "state": {"values": {}},
        }
        return payload, key

    async def press(
        self, card: dict[str, Any], action_prefix: str, *, user: str, **options: Any
    ) -> str:
        """Press a card's button as `user`; returns the key of the action's response_url."""
        payload, key = self.action_payload(card, action_prefix, user=user, **options)
        status, body = await self.post_form({"payload": json.dumps(payload)})
        assert (status, body) == (200, "")
        return key

    async def press_switch(
        self,
        card: dict[str, Any],
        action_prefix: str,
        *,
        user: str,
        duration: str = "until_off",
        **options: Any,
    ) -> str:
        """Press a fallback switch as `user`; when it opens the Enable dialog, choose
        `duration` and submit it, as a person would. The key of the press's response_url
        (where the dialog's answers go too)."""
        opened = len(self.slack.calls_to("views.open"))
        key = await self.press(card, action_prefix, user=user, **options)
        await self.settle()
        if len(self.slack.calls_to("views.open")) > opened:
            await self.choose_duration(user=user, duration=duration, dialog=opened + 1)
        return key

    async def choose_duration(
        self, *, user: str, duration: str = "until_off", dialog: int | None = None
    ) -> dict[str, Any]:
        """Submit the Enable dialog the bot opened (the `dialog`-th views.open, else the
        last) with `duration` chosen."""
        calls = self.slack.calls_to("views.open")
        view = (calls[dialog - 1] if dialog else calls[-1]).data["view"]
        view = json.loads(view) if isinstance(view, str) else view
        chosen = {"selected_option": {"value": duration}}
        return await self.submit_view(
            view["callback_id"],
            {"fallback_duration": {"fallback_duration_input": chosen}},
            user=user,
            private_metadata=view.get("private_metadata", ""),
        )

    async def submit_view(
        self,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        *,
        user: str,
        private_metadata: str = "",
    ) -> dict[str, Any]:
        payload = {
            "type": "view_submission",
            "team": {"id": self.team, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "api_app_id": "A0001",
            "trigger_id": f"trigger.view{next(_keys)}",
            **self._org(),
            "view": {
                "id": "V0001",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "blocks": [],
                "state": {"values": values},
            },
        }
        status, body = await self.post_form({"payload": json.dumps(payload)})
        assert status == 200, body
        return json.loads(body) if body else {}


FORM = "application/x-www-form-urlencoded"


# Request bookkeeping, not data a user could change.
BOOKKEEPING = {"seen_request_signatures", "fallback_locks", "heartbeats"}


def table_rows(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table as stored (secrets as ciphertext), to show that a refused
    request changed nothing."""
    with db.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table.name}")
            ]
            for table in Base.metadata.sorted_tables
            if table.name not in BOOKKEEPING
        }


def everything_stored(db: Engine) -> str:
    """Every row of every table, installation and bookkeeping tables too, as text: to search
    for a secret that must not be there."""
    with db.connect() as connection:
        tables = [
            name
            for (name,) in connection.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                    if db.dialect.name == "sqlite"
                    else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            )
        ]
        return json.dumps(
            {
                table: [
                    [str(value) for value in row]
                    for row in connection.exec_driver_sql(f"SELECT * FROM {table}")
                ]
                for table in tables
            }
        )


class FakeApplication:
    """An application whose fallback flag really changes when Ace Data Cloud is asked to."""

    def __init__(self, router: respx.MockRouter, app_id: str = APP_ID, *, allow: bool = False):
        self.app_id = app_id
        self.allow = allow
        self.remaining: Any = 493.2210000000001
        self.log: list[str] = []
        self.post_answer: httpx.Response | Exception | None = None
        self.latency = 0.05  # like a real network: concurrent clicks overlap
        self.applies_despite_answer = False  # a change made although the answer was an error
        router.get("/applications/", params__contains={"scope": "Global"}).respond(
            json={
                "count": 1,
                "items": [application(GLOBAL_APP_ID, remaining=1234.5, scope="Global")],
            }
        )
        self.get_route = router.get(f"/applications/{app_id}")
        self.get_route.side_effect = self._get
        self.post_route = router.post(f"/applications/{app_id}/update-allow-consume-global/")
        self.post_route.side_effect = self._post

    async def _get(self, request: httpx.Request) -> httpx.Response:
        self.log.append("GET")
        await asyncio.sleep(self.latency)
        return httpx.Response(
            200, json=application(self.app_id, allow=self.allow, remaining=self.remaining)
        )

    async def _post(self, request: httpx.Request) -> httpx.Response:
        self.log.append("POST")
        await asyncio.sleep(self.latency)
        if self.applies_despite_answer or self.post_answer is None:
            self.allow = json.loads(request.content)["allow_consume_global"]
        if isinstance(self.post_answer, Exception):
            raise self.post_answer
        if self.post_answer is not None:
            return self.post_answer
        return httpx.Response(200, json=application(self.app_id, allow=self.allow))

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [json.loads(call.request.content) for call in self.post_route.calls]
