"""A console link to an application unfurls as a compact card, only where the workspace's
account holds it and an alias of it is visible; otherwise nothing at all is said."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import respx
from sqlalchemy import Engine

from bot.slack.ids import UNFURL_REFRESH_ACTION
from tests.support.blocks import assert_valid
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    BotClient,
    mock_quota,
    table_rows,
)
from tests.support.events import send_event

CONSOLE = "https://platform.acedata.cloud"
POSTED_TS = "1700000123.000400"
STRANGER_APP_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"


def shared(
    *urls: str, channel: str = CHANNEL, source: str = "conversations_history"
) -> dict[str, Any]:
    composer = source == "composer"
    return {
        "type": "link_shared",
        "channel": "COMPOSER" if composer else channel,
        "user": MEMBER,
        "message_ts": "U0123-909b5454-75f8" if composer else POSTED_TS,
        "unfurl_id": "C0001.1700000123.000400.abc",
        "source": source,
        "links": [{"domain": "platform.acedata.cloud", "url": url} for url in urls],
    }


async def unfurls(bot: BotClient, event: dict[str, Any]) -> list[Any]:
    assert await send_event(bot, event) == 200
    await bot.settle()
    return bot.slack.calls_to("chat.unfurl")


def unfurled(call: Any) -> dict[str, Any]:
    value = call.data["unfurls"]
    return json.loads(value) if isinstance(value, str) else value


async def test_a_link_to_an_application_linked_here_unfurls_as_a_compact_card(
    linked: BotClient,
) -> None:
    url = f"{CONSOLE}/console/applications/{APP_ID}/extra"
    (call,) = await unfurls(linked, shared(url))

    assert (call.data["channel"], call.data["ts"]) == (CHANNEL, POSTED_TS)
    blocks = unfurled(call)[url]["blocks"]
    assert_valid(blocks)
    assert blocks[0]["text"]["text"] == (
        "*Midjourney · prod* — 493.22 Credits left (95.8%) · global fallback OFF"
    )
    assert blocks[-1]["elements"][0]["text"]["text"] == "Refresh"


async def test_a_usage_link_unfurls_too_and_each_application_once(linked: BotClient) -> None:
    usage = f"{CONSOLE}/console/usages?application_id={APP_ID}&page=2"
    again = f"{CONSOLE}/console/applications/{APP_ID}"
    (call,) = await unfurls(linked, shared(usage, again, "https://example.com/x"))
    assert list(unfurled(call)) == [usage]


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.test/console/applications/{APP_ID}",
        f"{CONSOLE}/console/platform-tokens",
        f"{CONSOLE}/console/applications/not-an-id",
        f"{CONSOLE}/console/usages?application_id=",
    ],
    ids=["other host", "other page", "bad id", "empty id"],
)
async def test_other_links_are_left_alone(linked: BotClient, url: str) -> None:
    assert await unfurls(linked, shared(url)) == []


async def test_an_application_linked_only_in_another_channel_is_not_unfurled(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    await linked.quota(f"link music {OTHER_APP_ID}", user=ADMIN, channel=OTHER_CHANNEL)
    url = f"{CONSOLE}/console/applications/{OTHER_APP_ID}"
    assert await unfurls(linked, shared(url)) == []
    assert len(await unfurls(linked, shared(url, channel=OTHER_CHANNEL))) == 1


async def test_an_application_of_another_account_is_not_unfurled(
    linked: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # Linked here by mistake, but this workspace's token may not read it.
    mock_quota(acedata, STRANGER_APP_ID)
    await linked.quota(f"link stranger {STRANGER_APP_ID}", user=ADMIN)
    acedata.get(f"/applications/{STRANGER_APP_ID}").respond(404, json={"detail": "Not found."})
    caplog.set_level(logging.INFO)
    url = f"{CONSOLE}/console/applications/{STRANGER_APP_ID}"
    assert await unfurls(linked, shared(url)) == []
    assert any("Console link not unfurled" in r.getMessage() for r in caplog.records)
    assert linked.slack.calls_to("chat.postEphemeral") == []


async def test_a_message_being_written_is_not_unfurled(linked: BotClient) -> None:
    url = f"{CONSOLE}/console/applications/{APP_ID}"
    assert await unfurls(linked, shared(url, source="composer")) == []


async def test_without_a_token_nothing_is_unfurled(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    url = f"{CONSOLE}/console/applications/{APP_ID}"
    assert await unfurls(bot, shared(url)) == []


async def test_chat_unfurl_refused_is_logged_once_and_nothing_else(
    linked: BotClient, caplog: pytest.LogCaptureFixture, db: Engine
) -> None:
    linked.slack.failures["chat.unfurl"] = "cannot_unfurl_url"
    caplog.set_level(logging.INFO)
    url = f"{CONSOLE}/console/applications/{APP_ID}"
    await unfurls(linked, shared(url))

    refused = [r for r in caplog.records if "chat.unfurl refused" in r.getMessage()]
    assert len(refused) == 1 and "cannot_unfurl_url" in refused[0].getMessage()
    assert linked.slack.calls_to("chat.postMessage") == []
    assert linked.slack.calls_to("chat.postEphemeral") == []


def unfurl_press(
    bot: BotClient, blocks: list[dict[str, Any]], url: str, *, user: str, value: str | None = None
) -> tuple[dict[str, Any], str]:
    payload, key = bot.action_payload(
        {"blocks": blocks}, UNFURL_REFRESH_ACTION, user=user, value=value
    )
    payload["container"] = {
        "type": "message_attachment",
        "message_ts": POSTED_TS,
        "attachment_id": 1,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
        "is_app_unfurl": True,
        "app_unfurl_url": url,
    }
    return payload, key


async def test_refresh_replaces_the_unfurl_with_a_fresh_read(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    url = f"{CONSOLE}/console/applications/{APP_ID}"
    (first,) = await unfurls(linked, shared(url))
    mock_quota(acedata, remaining=100)
    payload, _ = unfurl_press(linked, unfurled(first)[url]["blocks"], url, user=MEMBER)
    await linked.post_form({"payload": json.dumps(payload)})
    await linked.settle()

    second = linked.slack.calls_to("chat.unfurl")[-1]
    assert (second.data["channel"], second.data["ts"]) == (CHANNEL, POSTED_TS)
    assert "100.00 Credits left" in json.dumps(unfurled(second)[url])


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"alias": "prod", "application_id": OTHER_APP_ID}),
        "garbage",
    ],
    ids=["another application", "garbage"],
)
async def test_a_forged_refresh_changes_nothing(linked: BotClient, db: Engine, value: str) -> None:
    url = f"{CONSOLE}/console/applications/{APP_ID}"
    (first,) = await unfurls(linked, shared(url))
    before = table_rows(db)
    payload, key = unfurl_press(
        linked, unfurled(first)[url]["blocks"], url, user=MEMBER, value=value
    )
    await linked.post_form({"payload": json.dumps(payload)})
    said = await linked.slack.wait_for_response(key)

    assert "button" in said["text"].lower()
    assert len(linked.slack.calls_to("chat.unfurl")) == 1
    assert table_rows(db) == before


async def test_refresh_after_the_alias_moved_says_so(linked: BotClient) -> None:
    url = f"{CONSOLE}/console/applications/{APP_ID}"
    (first,) = await unfurls(linked, shared(url))
    await linked.quota("unlink prod", user=ADMIN)
    payload, key = unfurl_press(linked, unfurled(first)[url]["blocks"], url, user=MEMBER)
    await linked.post_form({"payload": json.dumps(payload)})
    said = await linked.slack.wait_for_response(key)

    assert said["text"].startswith("This preview can no longer be refreshed here")
    assert len(linked.slack.calls_to("chat.unfurl")) == 1
