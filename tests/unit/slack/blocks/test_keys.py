"""The keys list and its dialogs stay within Slack's limits whatever the keys are called."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.acedata import ApiKey
from bot.services.keys import DaySpend, KeyList, KeyView
from bot.slack.blocks.keys import cap_modal, keys_message, keys_text, pause_confirm
from tests.support.client import APP_ID

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def view(index: int, name: str | None = None, **fields: object) -> KeyView:
    key = ApiKey.model_validate(
        {"id": f"key-{index}", "name": name, "used_amount": index, **fields}
    )
    return KeyView(key=key, state="active", spend=DaySpend(Decimal(index)))


def test_a_long_list_is_cut_to_what_one_message_holds_and_says_so() -> None:
    listed = KeyList(APP_ID, [view(i, f"key {i}") for i in range(30)], NOW)
    blocks = keys_message("prod", listed)
    assert len(blocks) <= 50
    assert "10 more not shown" in json.dumps(blocks)
    assert keys_text("prod", listed) == "API keys of prod: 30 keys"


def test_outside_names_are_escaped_and_cut() -> None:
    hostile = "<!channel> " + "x" * 300
    listed = KeyList(
        APP_ID, [view(1, hostile, expired_at=(NOW + timedelta(days=1)).isoformat())], NOW
    )
    text = json.dumps(keys_message("prod", listed))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    confirm = pause_confirm("prod", listed.keys[0].key)
    assert len(confirm.to_dict()["text"]["text"]) <= 300
    brackets = view(2, "<" * 100, expired_at=(NOW + timedelta(days=1)).isoformat()).key
    assert len(pause_confirm("a" * 32, brackets).to_dict()["text"]["text"]) <= 300
    modal = cap_modal("prod", listed.keys[0].key, "{}")
    assert "<!channel>" not in json.dumps(modal)


def test_a_key_without_a_name_is_named_by_its_id() -> None:
    listed = KeyList(APP_ID, [view(7)], NOW)
    assert "*key key-7*" in json.dumps(keys_message("prod", listed))
