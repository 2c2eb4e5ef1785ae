"""Alert messages: valid Block Kit, the right words for each level, escaped, within limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.services.alert_levels import AlertState, Level, Threshold
from bot.services.alerts import Watch
from bot.slack.blocks.alert import alert_list, alert_message, recovered_message
from tests.support.blocks import app, assert_valid, snapshot

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BELOW = Threshold("amount", Decimal(100))


def buttons(message: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [
        element["text"]["text"]
        for block in message
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


@pytest.mark.parametrize("level", list(Level)[1:])
@pytest.mark.parametrize("allow", [True, False])
def test_every_alert_message_is_valid(level: Level, allow: bool) -> None:
    used_up = level in {Level.EXHAUSTED, Level.FAILING}
    hostile = app(remaining=0 if used_up else 50, allow=allow, title="<!channel>")
    message = alert_message("prod", level, snapshot(hostile), BELOW)
    assert_valid(message.blocks)
    assert "<!channel>" not in json.dumps(message.blocks)
    assert buttons(message.blocks)[-3:] == [
        "Snooze 1 h",
        "Snooze 1 day",
        "Snooze until recovered",
    ]


def test_only_used_up_with_the_fallback_off_calls_the_channel_and_offers_the_switch() -> None:
    off = alert_message("prod", Level.FAILING, snapshot(app(remaining=0, allow=False)), BELOW)
    on = alert_message("prod", Level.EXHAUSTED, snapshot(app(remaining=0, allow=True)), BELOW)
    low = alert_message("prod", Level.LOW, snapshot(app(remaining=50, allow=False)), BELOW)
    assert off.text.startswith("<!here>")
    assert buttons(off.blocks)[0] == "Enable global fallback"
    assert "<!here>" not in on.text and "Enable global fallback" not in buttons(on.blocks)
    assert "<!here>" not in low.text
    assert "below its alert threshold (100.00 Credits): 50.00 Credits left" in low.text


def test_recovery_and_the_list_read_clearly() -> None:
    back = recovered_message("prod", snapshot(app(remaining=500)))
    assert_valid(back.blocks)
    assert "prod is back: 500.00 Credits left" in back.text
    watch = Watch(
        1, "T1", "C1", "prod", Threshold("percent", Decimal(10)), AlertState(), "U1", None
    )
    listing = alert_list([watch], NOW)
    assert "*prod* below 10.0% left: ok" in listing
    assert "No alerts in this channel" in alert_list([], NOW)
