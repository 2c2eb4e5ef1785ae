"""Block Kit limits, factories of what the renderers take, and checks every message passes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block

from bot.acedata import Application
from bot.services.quota import QuotaSnapshot

from .client import APP_ID, GLOBAL_APP_ID, application

AS_OF = datetime(2024, 8, 16, 7, 51, 15, tzinfo=UTC)


# What Slack would turn into a mention or a link if it reached mrkdwn unescaped.
HOSTILE = "<!channel> & <!here> <@U123> <https://evil.test|click> &amp; >"


# Slack's limits (https://api.slack.com/reference/block-kit).
MAX_BLOCKS = 50


MAX_HEADER = 150


MAX_SECTION_TEXT = 3000


MAX_FIELDS = 10


MAX_FIELD = 2000


MAX_CONTEXT_ELEMENTS = 10


MAX_CONTEXT_TEXT = 3000


MAX_ACTIONS = 25


MAX_BUTTON_TEXT = 75


MAX_BUTTON_VALUE = 2000


MAX_CONFIRM_TITLE = 100


MAX_CONFIRM_TEXT = 300


MAX_CONFIRM_BUTTON = 30


MAX_ID = 255


def app(
    number: int | None = None,
    *,
    remaining: Any = 493.2210000000001,
    used: Any = 21.778999999999996,
    allow: bool | None = False,
    title: str = "Midjourney",
    unit: str | None = "Credits",
    app_id: str = APP_ID,
    scope: str = "Individual",
) -> Application:
    """An application as Ace Data Cloud returns it; `number` makes one of many distinct IDs."""
    if number is not None:
        app_id = f"00000000-0000-4000-8000-{number:012d}"
    data = application(app_id, remaining=remaining, used=used, title=title, scope=scope)
    data["allow_consume_global"] = allow
    data["service"]["unit"] = unit
    return Application.model_validate(data)


def global_balance(remaining: Any = 1234.5) -> Application:
    return app(app_id=GLOBAL_APP_ID, remaining=remaining, used=0, scope="Global")


def snapshot(application: Application, balance: Application | None = None) -> QuotaSnapshot:
    return QuotaSnapshot(application, balance, AS_OF)


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def mrkdwn_texts(message: list[dict[str, Any]]) -> list[str]:
    return [
        obj["text"]
        for obj in _walk(message)
        if obj.get("type") == "mrkdwn" and isinstance(obj.get("text"), str)
    ]


def assert_escaped(text: str) -> None:
    """No mention or link that outside text could have injected (dates are the bot's own)."""
    without_dates = re.sub(r"<!date\^\d+\^[^|>]*\|[^>]*>", "", text)
    for marker in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<https://evil"):
        assert marker not in without_dates, text
    assert "<" not in without_dates.replace("<@U", ""), text  # nothing else opens a Slack token


def assert_valid(message: list[dict[str, Any]]) -> None:
    """Valid for slack_sdk's Block Kit models and within Slack's limits."""
    assert isinstance(message, list) and message
    assert len(message) <= MAX_BLOCKS, len(message)
    json.dumps(message)  # plain JSON, nothing else
    for block in message:
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict() == block  # runs slack_sdk's length validators
        assert len(block.get("block_id", "")) <= MAX_ID
        match block["type"]:
            case "header":
                assert len(block["text"]["text"]) <= MAX_HEADER
                assert block["text"]["type"] == "plain_text"
            case "section":
                if "text" in block:
                    assert 0 < len(block["text"]["text"]) <= MAX_SECTION_TEXT
                fields = block.get("fields", [])
                assert len(fields) <= MAX_FIELDS
                for field in fields:
                    assert 0 < len(field["text"]) <= MAX_FIELD
                assert "text" in block or fields
            case "context":
                assert 0 < len(block["elements"]) <= MAX_CONTEXT_ELEMENTS
                for element in block["elements"]:
                    assert 0 < len(element["text"]) <= MAX_CONTEXT_TEXT
            case "actions":
                assert 0 < len(block["elements"]) <= MAX_ACTIONS
                for element in block["elements"]:
                    assert_valid_button(element)
    for obj in _walk(message):
        if obj.get("type") == "button":
            assert_valid_button(obj)


def assert_valid_button(button: dict[str, Any]) -> None:
    assert button["type"] == "button"
    assert 0 < len(button["text"]["text"]) <= MAX_BUTTON_TEXT
    assert len(button["action_id"]) <= MAX_ID
    assert len(button.get("value", "")) <= MAX_BUTTON_VALUE
    confirm = button.get("confirm")
    if confirm:
        assert 0 < len(confirm["title"]["text"]) <= MAX_CONFIRM_TITLE
        assert 0 < len(confirm["text"]["text"]) <= MAX_CONFIRM_TEXT
        assert 0 < len(confirm["confirm"]["text"]) <= MAX_CONFIRM_BUTTON
        assert 0 < len(confirm["deny"]["text"]) <= MAX_CONFIRM_BUTTON
