"""The `/quota usage` message, a digest line's "top:" part and App Home's top API, as pure
functions: the figures as a reader sees them, valid Block Kit within Slack's limits, and
outside text (API titles) escaped."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.acedata import ApiDayAmount, ApiUsage
from bot.services.usage import UsageReport, fold, period_bounds
from bot.slack import ids
from bot.slack.blocks.breakdown import top_text, top_this_week, usage_message
from bot.slack.blocks.digest import DigestLine, digest_messages
from tests.support.blocks import (
    HOSTILE,
    app,
    assert_escaped,
    assert_valid,
    mrkdwn_texts,
    snapshot,
)
from tests.support.client import APP_ID

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
CONSOLE = "https://platform.acedata.test"


def report(
    rows: list[tuple[int, str, str]],
    *,
    period: str = "7d",
    titles: dict[str, str] | None = None,
    failed: int | None = 3,
    with_app: bool = True,
    zone: str = "UTC",
) -> UsageReport:
    bounds = period_bounds(period, ZoneInfo(zone), NOW)  # type: ignore[arg-type]
    usage = ApiUsage(
        items=tuple(
            ApiDayAmount(day=bounds.today - timedelta(days=back), api_id=api, amount=Decimal(x))
            for back, api, x in rows
        ),
        titles=titles or {},
    )
    application = app() if with_app else None
    return UsageReport(APP_ID, bounds, fold(usage, days=bounds.days), failed, application)


def text_of(message: dict[str, object]) -> str:
    return "\n".join(mrkdwn_texts(message["blocks"]))  # type: ignore[arg-type]


SEVEN_APIS = [
    (0, "imagine", "31"),
    (1, "imagine", "31"),
    (2, "describe", "30"),
    (0, "blend", "3.5"),
    (0, "upscale", "2"),
    (3, "chat", "1.5"),
    (4, "audio", "0.6"),
    (6, "video", "0.4"),
]
TITLES = {"imagine": "Midjourney Imagine", "describe": "Midjourney Describe", "blend": "Blend"}


def test_the_usage_message_shows_top_apis_others_days_and_failed_calls() -> None:
    message = usage_message(report(SEVEN_APIS, titles=TITLES), "prod", as_of=NOW, console=CONSOLE)
    blocks = message["blocks"]
    assert_valid(blocks)
    text = text_of(message)

    assert message["response_type"] == "in_channel"
    assert message["text"] == "prod: 100.00 Credits used in the last 7 days"
    assert blocks[0]["text"]["text"] == "Midjourney · prod — usage in the last 7 days"
    assert "*By API* · total 100.00 Credits" in text
    assert "1. *Midjourney Imagine* — 62.00 Credits (62 %)" in text
    assert "2. *Midjourney Describe* — 30.00 Credits (30 %)" in text
    assert "3. *Blend* — 3.50 Credits (4 %)" in text  # 3.5 → 4: the largest remainder
    assert "4. *upscale* — 2.00 Credits (2 %)" in text  # no title: its id
    assert "5. *chat* — 1.50 Credits (1 %)" in text  # 1.5 → 1
    assert "*Others* (2 more APIs) — 1.00 Credits (1 %)" in text
    shown = [int(part.split("(")[-1].split(" %")[0]) for part in text.split("\n") if " %)" in part]
    assert sum(shown) == 100
    # Every day of the period, today marked, a day without usage as 0.
    assert "*Per day* (UTC, Credits)" in text
    assert "Fri 4 Dec (today)  36.50" in text
    assert "Thu 3 Dec          31.00" in text
    assert "Sun 29 Nov             0\n" in text
    assert "Sat 28 Nov          0.40" in text
    assert "Fri 27 Nov" not in text
    assert ":warning: 3 calls failed in this period" in text
    assert f"Application `{APP_ID}` · Sat 28 Nov to Fri 4 Dec (UTC) · as of <!date^" in text

    actions = [block for block in blocks if block["type"] == "actions"]
    assert [block["block_id"] for block in actions] == [ids.USAGE_ACTIONS_BLOCK]
    refresh, console, top_up = actions[0]["elements"]
    assert refresh["action_id"] == ids.USAGE_REFRESH_ACTION
    assert ids.decode_usage(refresh["value"]) == ids.UsageTarget(alias="prod", period="7d")
    assert console["text"]["text"] == "Open in console"
    assert console["url"] == f"{CONSOLE}/console/usages?application_id={APP_ID}"
    assert top_up["text"]["text"] == "Top up"


def test_no_usage_says_so_and_still_counts_failed_calls() -> None:
    message = usage_message(report([], period="today", failed=41), "prod", as_of=NOW, console=None)
    assert_valid(message["blocks"])
    text = text_of(message)
    assert message["text"] == "prod: no usage today"
    assert "No usage today." in text
    assert "Per day" not in text and "By API" not in text
    assert ":warning: 41 calls failed in this period" in text
    assert "Fri 4 Dec since midnight (UTC)" in text


def test_failed_calls_unknown_leaves_the_line_out_and_none_says_none() -> None:
    unknown = text_of(usage_message(report(SEVEN_APIS, failed=None), "p", as_of=NOW, console=None))
    assert "failed" not in unknown
    none = text_of(usage_message(report(SEVEN_APIS, failed=0), "p", as_of=NOW, console=None))
    assert "No calls failed in this period." in none


def test_without_the_application_amounts_have_no_unit_and_the_heading_no_title() -> None:
    message = usage_message(report(SEVEN_APIS, with_app=False), "prod", as_of=NOW, console=None)
    assert message["blocks"][0]["text"]["text"] == "prod — usage in the last 7 days"
    text = text_of(message)
    assert "*By API* · total 100.00\n" in text
    assert "Credits" not in text
    assert "*Per day* (UTC)" in text


def test_thirty_days_in_a_zone_fit_and_hostile_titles_are_escaped() -> None:
    rows = [(back, f"api{n}", "1.25") for back in range(30) for n in range(9)]
    titles = {f"api{n}": HOSTILE * 5 for n in range(9)}
    message = usage_message(
        report(rows, period="30d", titles=titles, zone="Asia/Shanghai"),
        "prod",
        as_of=NOW,
        console=CONSOLE,
    )
    assert_valid(message["blocks"])
    for text in mrkdwn_texts(message["blocks"]):
        assert_escaped(text)
    text = text_of(message)
    assert "*Per day* (Asia/Shanghai, Credits)" in text
    assert text.count("11.25") == 30  # nine APIs a day
    assert "*Others* (4 more APIs) — 150.00 Credits (45 %)" in text
    assert "<!channel>" not in json.dumps(message)


def test_a_share_too_small_to_round_to_one_percent_says_under_one() -> None:
    message = usage_message(
        report([(0, "a", "999"), (0, "b", "0.5")]), "prod", as_of=NOW, console=None
    )
    text = text_of(message)
    assert "1. *a* — 999.00 Credits (100 %)" in text
    assert "2. *b* — 0.50 Credits (&lt;1 %)" in text


def test_the_digests_top_part_and_app_homes_line() -> None:
    top = report(SEVEN_APIS, titles=TITLES).breakdown.top
    assert top_text(top[:3]) == "top: Midjourney Imagine 62 %, Midjourney Describe 30 %, Blend 4 %"
    assert top_this_week(top[0]) == "top this week: Midjourney Imagine 62 %"
    hostile = report([(0, "x", "1")], titles={"x": HOSTILE}).breakdown.top
    assert_escaped(top_text(hostile))


def test_the_day_labels_follow_the_zone() -> None:
    # 15:00 UTC on 4 December is already the 5th in Auckland.
    bounds = report([], zone="Pacific/Auckland").bounds
    assert bounds.today == date(2026, 12, 5)


def test_a_digest_of_many_aliases_naming_long_hostile_top_apis_keeps_slacks_limits() -> None:
    hostile = report(
        [(0, f"api{n}", str(n + 1)) for n in range(3)],
        titles={f"api{n}": (HOSTILE * 10) for n in range(3)},
    ).breakdown.top
    lines = [
        DigestLine(f"alias{n:03d}", app(n).id, snapshot(app(n)), None, None, None, hostile)
        for n in range(120)
    ]
    messages = digest_messages(
        lines,
        title="Daily digest",
        now=NOW,
        zone=ZoneInfo("UTC"),
        late_slot=None,
        global_balance=None,
        console=CONSOLE,
    )
    shown = 0
    for message in messages:
        assert_valid(message.blocks)
        for text in mrkdwn_texts(message.blocks):
            assert_escaped(text)
        shown += sum("top: &lt;!channel&gt;" in text for text in mrkdwn_texts(message.blocks))
    assert shown == 120  # every alias, each with its top part, none left out
