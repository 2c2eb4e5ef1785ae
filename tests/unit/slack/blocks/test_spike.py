"""Spike messages: valid Block Kit within Slack's limits, outside text escaped, the lines that
cannot be known left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.services.spikes import Breakdown, Measure, Share, SpikeNews, SpikeState, SpikeWatch
from bot.slack.blocks.spike import calm_message, spike_lines, spike_message
from tests.support.blocks import HOSTILE, app, assert_valid, mrkdwn_texts, snapshot

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
WATCH = SpikeWatch(1, "T1", "C1", "prod", Decimal(4), SpikeState(), "U1", None)


def news(breakdown: Breakdown | None, *, usual: str = "50", allow: bool = True) -> SpikeNews:
    quota = snapshot(app(remaining=4690, used=26000, allow=allow, title=HOSTILE))
    found = Measure(Decimal(310), Decimal(usual), Decimal(30690), "aggregate")
    return SpikeNews(WATCH, quota, found, "start", timedelta(hours=1), breakdown)


LONG = HOSTILE * 10
SPREAD = Breakdown(
    apis=(Share("a", LONG, Decimal(300)), Share("b", "upscale", Decimal(10))),
    keys=(Share("k-1", LONG, Decimal(300)),),
    total=Decimal(310),
    seen=100,
    count=420,
)


def buttons(message: list[dict]) -> list[str]:  # type: ignore[type-arg]
    elements = [e for b in message for e in b.get("elements", []) if e.get("type") == "button"]
    return [e["text"]["text"] for e in elements]


def test_a_spike_message_is_valid_escaped_and_within_limits() -> None:
    message = spike_message(news(SPREAD), console="https://console.test")
    assert_valid(message.blocks)
    said = "\n".join(mrkdwn_texts(message.blocks))
    assert "<!channel>" not in said  # plain text (a button, a confirm) Slack does not parse
    assert "6.2\u00d7 its usual rate" in said
    assert "_(from the latest 100 of 420 calls)_" in said
    assert "(97%)" in said
    labels = buttons(message.blocks)
    assert labels[0].startswith("Pause key ") and len(labels[0]) <= 75
    assert labels[1:] == [
        "Disable global fallback",
        "Open usage in console",
        "Snooze 1 h",
        "Snooze 1 day",
    ]


def test_without_records_usual_or_fallback_the_message_says_only_what_is_known() -> None:
    message = spike_message(news(None, usual="0", allow=False), console="https://console.test")
    assert_valid(message.blocks)
    said = "\n".join(mrkdwn_texts(message.blocks))
    assert "is spending fast: 310.00 Credits in the last hour, usually nothing." in said
    assert "Top" not in said
    assert buttons(message.blocks) == ["Open usage in console", "Snooze 1 h", "Snooze 1 day"]


def test_the_end_of_a_spike_and_the_listing() -> None:
    calm = calm_message(news(None))
    assert_valid(calm.blocks)
    assert (
        "*prod* is back to normal: 310.00 Credits in the last hour (usually 50.00)"
        in (calm.blocks[0]["text"]["text"])
    )
    spiking = SpikeWatch(2, "T1", "C1", "stage", Decimal("2.5"), SpikeState(NOW, "1.2"), "U1", NOW)
    snoozed = SpikeWatch(
        3,
        "T1",
        "C1",
        "dev",
        Decimal(4),
        SpikeState(snoozed_until=NOW + timedelta(hours=1)),
        "U1",
        None,
    )
    paused = SpikeWatch(4, "T1", "C1", "old", Decimal(4), SpikeState(), "U1", None, "alias_gone")
    lines = spike_lines([WATCH, spiking, snoozed, paused], NOW)
    assert lines[0] == "• *prod* spending 4\u00d7 its usual rate: watching"
    assert lines[1].startswith("• *stage* spending 2.5\u00d7 its usual rate: spiking since <!date^")
    assert lines[2].startswith("• *dev* spending 4\u00d7 its usual rate: snoozed until <!date^")
    assert lines[3].startswith(
        "• *old* spending 4\u00d7 its usual rate: *paused* (its alias no longer"
    )
