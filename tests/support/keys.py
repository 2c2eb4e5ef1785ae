"""Test-side helpers for API keys: an Ace Data Cloud whose keys really change when asked (their
secrets in every answer, as the real one sends them), and pressing a keys list's buttons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import respx

from bot.slack.ids import KEY_CAP_MODAL_CALLBACK

from .client import APP_ID, CHANNEL, BotClient, blocks_of
from .slack_server import Call

# Distinctive secrets: searched for everywhere the bot could have put them.
TOKEN_SECRET = "sk-live-SECRETTOKEN-7f3a9c1e2b4d"
IDENTITY_USER = "svc-identity-SECRETUSER-91ab"
IDENTITY_PASSWORD = "pw-SECRETPASS-c0ffee-42"
SECRETS = (TOKEN_SECRET, IDENTITY_USER, IDENTITY_PASSWORD)
KEYS_TS = "1700000000.000200"  # the ts the stand-in gives every posted message

CI_KEY = "0a1b2c3d-0000-4000-8000-00000000c1c1"
WEB_KEY = "0a1b2c3d-0000-4000-8000-00000000eeee"
OLD_KEY = "0a1b2c3d-0000-4000-8000-000000000101"
THEIR_KEY = "0a1b2c3d-0000-4000-8000-00000000dead"


def api_key(
    key_id: str,
    name: str | None,
    *,
    used: Any = 0,
    cap: Any = None,
    expired_at: str | None = None,
    kind: str = "Token",
    application_id: str = APP_ID,
) -> dict[str, Any]:
    """A key as `GET /credentials/` lists it, secrets included."""
    secrets: dict[str, Any] = (
        {"token": TOKEN_SECRET}
        if kind == "Token"
        else {"username": IDENTITY_USER, "password": IDENTITY_PASSWORD, "token": None}
    )
    return {
        "id": key_id,
        "name": name,
        "type": kind,
        "used_amount": used,
        "limited_amount": cap,
        "expired_at": expired_at,
        "application_id": application_id,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-11-02T03:04:05Z",
        "metadata": {},
        **secrets,
    }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FakeKeys:
    """The account's keys: listed per application, changed by PATCH (the answer echoes the
    changed key with its secrets, as the real API does)."""

    def __init__(self, router: respx.MockRouter, keys: list[dict[str, Any]]) -> None:
        self.keys = {key["id"]: key for key in keys}
        self.list_answer: httpx.Response | Exception | None = None
        self.reread_answer: httpx.Response | Exception | None = None  # lists after a PATCH
        self.patch_answer: httpx.Response | Exception | None = None
        self.applies_despite_answer = False
        self.log: list[str] = []
        self.list_route = router.get("/credentials/")
        self.list_route.side_effect = self._list
        self.patch_route = router.route(method="PATCH")
        self.patch_route.side_effect = self._patch

    def _list(self, request: httpx.Request) -> httpx.Response:
        self.log.append("LIST")
        answer = self.reread_answer if "PATCH" in self.log else None
        answer = answer or self.list_answer
        if isinstance(answer, Exception):
            raise answer
        if answer is not None:
            return answer
        wanted = request.url.params.get("application_id")
        items = [key for key in self.keys.values() if key["application_id"] == wanted]
        return httpx.Response(200, json={"count": len(items), "items": items})

    def _patch(self, request: httpx.Request) -> httpx.Response:
        self.log.append("PATCH")
        key_id = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        key = self.keys.get(key_id)
        if key is None:
            return httpx.Response(404, json={"detail": "Not found."})
        if self.applies_despite_answer or self.patch_answer is None:
            key.update(json.loads(request.content))
        if isinstance(self.patch_answer, Exception):
            raise self.patch_answer
        if self.patch_answer is not None:
            return self.patch_answer
        return httpx.Response(200, json=key)

    @property
    def patches(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (call.request.url.path.rsplit("/", 1)[-1], json.loads(call.request.content))
            for call in self.patch_route.calls
        ]


async def keys_message(bot: BotClient, alias: str = "prod", *, user: str) -> dict[str, Any]:
    """Run `/quota keys <alias>` and return the message the bot posted in the channel."""
    posted = len(bot.slack.calls_to("chat.postMessage"))
    reply = await bot.quota(f"keys {alias}", user=user, expect_reply=False)
    assert reply is None, reply
    call = await bot.slack.wait_for_call("chat.postMessage", count=posted + 1)
    return message_of(call)


def message_of(call: Call) -> dict[str, Any]:
    return {"blocks": blocks_of(call), "text": call.data.get("text")}


def key_row(message: dict[str, Any], key_id: str) -> dict[str, Any]:
    """The part of a keys list holding one key's buttons (to press one of them)."""
    for block in message["blocks"]:
        for element in block.get("elements", []):
            value = element.get("value")
            if value and json.loads(value).get("key_id") == key_id:
                return {"blocks": [block], "text": message.get("text")}
    raise AssertionError(f"no buttons for key {key_id}")


def key_text(message: dict[str, Any], key_id: str) -> str:
    """The section describing one key: the one just before its buttons."""
    blocks = message["blocks"]
    for index, block in enumerate(blocks):
        for element in block.get("elements", []):
            value = element.get("value")
            if value and json.loads(value).get("key_id") == key_id:
                return str(blocks[index - 1]["text"]["text"])
    raise AssertionError(f"no section for key {key_id}")


async def press_key(
    bot: BotClient,
    message: dict[str, Any],
    action: str,
    key_id: str,
    *,
    user: str,
    **options: Any,
) -> str:
    options.setdefault("message_ts", KEYS_TS)
    return await bot.press(key_row(message, key_id), action, user=user, **options)


def opened_view(bot: BotClient, index: int = -1) -> dict[str, Any]:
    view = bot.slack.calls_to("views.open")[index].data["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


async def submit_cap(
    bot: BotClient,
    typed: str | None,
    metadata: str,
    *,
    user: str,
    team: str | None = None,
) -> dict[str, Any]:
    """Submit the cap dialog as `user`, with `typed` in its field (None: the field left
    untouched, as Slack then sends no value) and `metadata` as its private_metadata."""
    team = team or bot.team
    field = {"type": "plain_text_input", "value": typed}
    payload = {
        "type": "view_submission",
        "team": {"id": team, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A0001",
        "trigger_id": "trigger.cap",
        "is_enterprise_install": False,
        "view": {
            "id": "V0001",
            "type": "modal",
            "callback_id": KEY_CAP_MODAL_CALLBACK,
            "private_metadata": metadata,
            "blocks": [],
            "state": {"values": {"key_cap": {"key_cap_input": field}}},
        },
    }
    status, body = await bot.as_team(team).post_form({"payload": json.dumps(payload)})
    assert status == 200, body
    return json.loads(body) if body else {}


def metadata_for(
    key_id: str,
    *,
    alias: str = "prod",
    application_id: str = APP_ID,
    channel: str = CHANNEL,
    ts: str | None = KEYS_TS,
    on_list: bool = True,
) -> str:
    return json.dumps(
        {
            "channel": channel,
            "ts": ts,
            "on_list": on_list,
            "target": {"alias": alias, "application_id": application_id, "key_id": key_id},
        }
    )
