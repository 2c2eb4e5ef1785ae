"""Setting the workspace's Ace Data Cloud token: in a modal, checked first, stored encrypted."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import respx
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from bot.config import Settings
from bot.slack.ids import TOKEN_ACTION, TOKEN_BLOCK, TOKEN_MODAL_CALLBACK
from tests.support.client import (
    ADMIN,
    APP_ID,
    MEMBER,
    PLATFORM_TOKEN,
    BotClient,
    answer_with,
    application,
    card_with_button,
    mock_quota,
    set_platform_token,
    table_rows,
    token_value,
)
from tests.support.server import BOT_TOKEN, SIGNING_SECRET, serve
from tests.support.slack_server import SlackServer


async def test_admin_sets_token_through_the_modal(
    bot: BotClient, acedata: respx.MockRouter
) -> None:
    answer = await set_platform_token(bot, acedata)

    opened = bot.slack.calls_to("views.open")[-1]
    assert opened.data["trigger_id"].startswith("trigger.")
    assert opened.data["view"]["callback_id"] == TOKEN_MODAL_CALLBACK
    assert answer["response_action"] == "update"
    shown = str(answer["view"])
    assert "`c56b`" in shown
    assert "*acme-ops*" in shown
    assert PLATFORM_TOKEN not in shown
    check = acedata.calls.last.request
    assert check.url.path == "/api/v1/platform-tokens/me/"
    assert check.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}"


async def test_saved_token_is_used_for_lookups(bot: BotClient, acedata: respx.MockRouter) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    await bot.quota("prod", user=MEMBER)
    assert acedata.calls.last.request.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}"


REFUSED = {
    "rejected by Ace Data Cloud": (
        httpx.Response(401, json={"detail": "Invalid token."}),
        PLATFORM_TOKEN,
        "Ace Data Cloud rejected this token",
    ),
    "upstream timeout": (httpx.ConnectTimeout("slow"), PLATFORM_TOKEN, "did not answer in time"),
    "upstream error": (
        httpx.Response(500, json={"error": {"code": "x", "message": "Boom"}}),
        PLATFORM_TOKEN,
        "Could not check the token with Ace Data Cloud: Boom",
    ),
    "empty": (None, "   ", "Paste the platform token."),
    "two words": (None, "platform-v1-abc def", "does not look like a platform token"),
    "too long": (None, "p" * 201, "does not look like a platform token"),
    "not ascii": (None, "platform-v1-äöü", "plain ASCII"),
}


@pytest.mark.parametrize(("upstream", "value", "expected"), REFUSED.values(), ids=REFUSED.keys())
async def test_bad_token_is_refused_in_the_modal_and_nothing_stored(
    bot: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    upstream: httpx.Response | Exception | None,
    value: str,
    expected: str,
) -> None:
    route = acedata.get("/platform-tokens/me/")
    if upstream is not None:
        answer_with(route, upstream)
    before = table_rows(db)

    answer = await bot.submit_view(
        TOKEN_MODAL_CALLBACK, {TOKEN_BLOCK: {TOKEN_ACTION: token_value(value)}}, user=ADMIN
    )

    assert answer["response_action"] == "errors"
    assert expected in answer["errors"][TOKEN_BLOCK]
    assert table_rows(db) == before
    assert route.called == (upstream is not None)


async def test_modal_that_cannot_open_in_time_says_so(bot: BotClient) -> None:
    bot.slack.failures["views.open"] = "expired_trigger_id"
    reply = await bot.quota("token", user=ADMIN)
    assert reply.response_type == "ephemeral"
    assert "run `/quota token` again" in reply.text


async def test_token_never_appears_in_logs_database_or_messages(
    bot: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    await bot.quota("prod", user=MEMBER)
    acedata.get(f"/applications/{APP_ID}").respond(401, json={"detail": "Invalid token."})
    await bot.quota("prod", user=MEMBER)

    secrets = [PLATFORM_TOKEN, PLATFORM_TOKEN[12:], BOT_TOKEN, SIGNING_SECRET]
    logged = (
        "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
        + caplog.text
    )
    assert "Token set" in logged
    for secret in secrets:
        assert secret not in logged
    said = repr([call.data for call in bot.slack.calls]) + repr(bot.slack.responses)
    assert PLATFORM_TOKEN[12:] not in said

    with db.connect() as connection:
        stored = connection.execute(text("SELECT acedata_token FROM workspaces")).scalar_one()
    assert PLATFORM_TOKEN[12:] not in stored
    assert (
        Fernet(settings.encryption_key.get_secret_value().encode()).decrypt(stored.encode())
        == PLATFORM_TOKEN.encode()
    )
    if settings.sqlite_path is not None:
        for path in Path(settings.sqlite_path).parent.glob("*.db*"):
            assert PLATFORM_TOKEN[12:].encode() not in path.read_bytes()


async def test_rotated_key_still_reads_tokens_saved_under_the_old_one(
    bot: BotClient, acedata: respx.MockRouter, settings: Settings, slack: SlackServer
) -> None:
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    old_key = settings.encryption_key.get_secret_value()
    rotated = settings.model_copy(
        update={
            "encryption_key": type(settings.encryption_key)(
                f"{Fernet.generate_key().decode()},{old_key}"
            )
        }
    )

    async with serve(rotated, slack) as restarted:
        card = await restarted.quota("prod", user=MEMBER)

    assert "493.22 Credits" in card.text
    assert acedata.calls.last.request.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}"


async def test_token_echoed_by_ace_data_cloud_is_redacted_everywhere(
    bot: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await set_platform_token(bot, acedata)
    mock_quota(acedata)
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    echo = {"error": {"code": "forbidden", "message": f"Token {PLATFORM_TOKEN} may not do that"}}
    acedata.get(f"/applications/{APP_ID}").respond(403, json=echo)
    acedata.post(f"/applications/{APP_ID}/update-allow-consume-global/").respond(403, json=echo)

    lookup = await bot.quota("prod", user=MEMBER)
    card = card_with_button(
        "quota_card_toggle_fallback:enable",
        {"alias": "prod", "application_id": APP_ID, "enable": True},
    )
    acedata.get(f"/applications/{APP_ID}").respond(json=application())
    key = await bot.press_switch(card, "quota_card_toggle_fallback", user=ADMIN)
    toggle = await bot.slack.wait_for_response(key)
    refused = await bot.submit_view(
        TOKEN_MODAL_CALLBACK,
        {TOKEN_BLOCK: {TOKEN_ACTION: token_value(PLATFORM_TOKEN[:-4] + "0000")}},
        user=MEMBER,
    )

    secret = PLATFORM_TOKEN[12:]
    assert "“Token [redacted] may not do that”" in lookup.text
    assert "[redacted]" in toggle["text"]
    assert refused["response_action"] == "errors"
    with db.connect() as connection:
        details = connection.execute(text("SELECT detail FROM audit_events")).scalars().all()
    everything = [lookup.text, toggle["text"], caplog.text, repr(details), repr(bot.slack.calls)]
    for place in everything:
        assert secret not in place
        assert secret[:-4] not in place
