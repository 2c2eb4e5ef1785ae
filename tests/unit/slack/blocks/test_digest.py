"""The digest and the forecast in words: valid Block Kit at any size, nothing dropped, nothing
injected, the right order and counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.acedata import Application
from bot.services.forecast import Forecast, Observation, forecast
from bot.services.quota import QuotaSnapshot
from bot.slack import ids
from bot.slack.blocks.digest import DigestLine, DigestMessage, digest_messages
from bot.slack.blocks.forecast import forecast_text, spark_text
from tests.support import blocks as blocks_support
from tests.support.blocks import (
    HOSTILE,
    MAX_BLOCKS,
    assert_escaped,
    assert_valid,
    global_balance,
    mrkdwn_texts,
)
from tests.support.client import application

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
UTC_ZONE = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
TITLE = "Daily digest at 09:00 Asia/Shanghai"
NO_HISTORY = Forecast(None, None, None, (None,) * 7)
ALIAS = re.compile(r":[a-z_]+: \*([^*]+)\*")  # an alias's section: its marker and name


def app(number: int = 0, **fields: Any) -> Application:
    """Digest tests' applications: 444 left of 1,000 unless said otherwise."""
    return blocks_support.app(number, **({"remaining": 444, "used": 556} | fields))


def line(
    alias: str,
    number: int = 0,
    *,
    change: Decimal | None = None,
    outlook: Forecast | None = NO_HISTORY,
    **fields: Any,
) -> DigestLine:
    application = app(number, **fields)
    snapshot = QuotaSnapshot(application, global_balance(), NOW)
    return DigestLine(alias, application.id, snapshot, None, change, outlook)


def unreadable(
    alias: str, number: int = 0, problem: str = "Ace Data Cloud timed out."
) -> DigestLine:
    return DigestLine(alias, app(number).id, None, problem, None, None)


def runs_out_in(delta: timedelta, per_day: int = 74) -> Forecast:
    return Forecast(Decimal(per_day), NOW + delta, None, (Decimal(per_day),) * 7)


def digest(
    lines: list[DigestLine], *, late_slot: datetime | None = None, **kwargs: Any
) -> list[DigestMessage]:
    options: dict[str, Any] = {"title": TITLE, "zone": SHANGHAI, "global_balance": global_balance()}
    return digest_messages(lines, now=NOW, late_slot=late_slot, **(options | kwargs))


def sections(message: DigestMessage) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


def aliases_shown(messages: list[DigestMessage]) -> list[str]:
    """The aliases in the order their sections appear, across every message."""
    found = (ALIAS.match(text) for message in messages for text in sections(message))
    return [match[1] for match in found if match]


def steady(per_day: int, *, days: int = 1) -> list[Observation]:
    """Two readings `days` apart with `per_day` used a day in between."""
    start = NOW - timedelta(days=days)
    return [
        Observation(start, Decimal(10_000), Decimal(0)),
        Observation(NOW, Decimal(10_000 - per_day * days), Decimal(per_day * days)),
    ]


def text_of(outlook: Forecast, *, fallback_on: bool = False, zone: ZoneInfo = UTC_ZONE) -> str:
    return forecast_text(outlook, unit="Credits", now=NOW, zone=zone, fallback_on=fallback_on)


# --- the forecast in words -----------------------------------------------------------------


def test_steady_use_reads_as_a_rate_and_a_date() -> None:
    outlook = forecast(steady(74), now=NOW, remaining=Decimal(444))
    assert text_of(outlook) == "≈ 74 Credits/day · runs out in ~6 days (Wed 2 Dec)"


def test_with_the_fallback_on_it_says_how_long_the_global_balance_lasts_then() -> None:
    outlook = forecast(
        steady(74),
        now=NOW,
        remaining=Decimal(444),
        fallback_on=True,
        global_remaining=Decimal(1036),
    )
    assert text_of(outlook, fallback_on=True) == (
        "≈ 74 Credits/day · runs out in ~6 days (Wed 2 Dec)"
        " · then the global balance lasts ~14 days"
    )
    assert text_of(outlook, fallback_on=False) == (
        "≈ 74 Credits/day · runs out in ~6 days (Wed 2 Dec)"
    )


def test_an_empty_global_balance_is_said_to_be_empty() -> None:
    outlook = forecast(
        steady(74), now=NOW, remaining=Decimal(444), fallback_on=True, global_remaining=Decimal(0)
    )
    assert text_of(outlook, fallback_on=True).endswith(" · the global balance is empty too")


def test_not_enough_history() -> None:
    one_reading = forecast(steady(74)[1:], now=NOW, remaining=Decimal(444))
    assert text_of(one_reading) == "Not enough history yet"
    assert text_of(NO_HISTORY) == "Not enough history yet"


def test_no_use() -> None:
    outlook = forecast(steady(0, days=3), now=NOW, remaining=Decimal(444))
    assert text_of(outlook) == "No use in the last week"


def test_under_a_day_says_hours_and_the_clock_time() -> None:
    assert text_of(runs_out_in(timedelta(hours=5), 24)) == (
        "≈ 24 Credits/day · runs out in ~5 hours (today 17:00)"
    )
    # 12:00 UTC is 20:00 in Shanghai: five hours later is tomorrow there.
    assert text_of(runs_out_in(timedelta(hours=5), 24), zone=SHANGHAI) == (
        "≈ 24 Credits/day · runs out in ~5 hours (tomorrow 01:00)"
    )
    assert text_of(runs_out_in(timedelta(minutes=20), 24)).endswith(
        "runs out in ~20 minutes (today 12:20)"
    )


def test_already_out() -> None:
    outlook = forecast(steady(74), now=NOW, remaining=Decimal(0))
    assert text_of(outlook) == "≈ 74 Credits/day · ran out"
    with_fallback = forecast(
        steady(74), now=NOW, remaining=Decimal(-5), fallback_on=True, global_remaining=Decimal(740)
    )
    assert text_of(with_fallback, fallback_on=True) == (
        "≈ 74 Credits/day · ran out · then the global balance lasts ~10 days"
    )


def test_a_trickle_has_no_end_in_sight() -> None:
    outlook = forecast(steady(1, days=7), now=NOW, remaining=Decimal(10**9))
    assert text_of(outlook) == "≈ 1 Credits/day · no end in sight"


def test_a_date_next_year_says_the_year() -> None:
    assert text_of(runs_out_in(timedelta(days=40))).endswith("(Tue 5 Jan 2027)")


@pytest.mark.parametrize(
    ("per_day", "shown"),
    [
        ("123456.7", "≈ 123,457"),
        ("100", "≈ 100"),
        ("99.96", "≈ 100"),
        ("74", "≈ 74"),
        ("7.25", "≈ 7.3"),
        ("7.04", "≈ 7"),
        ("1", "≈ 1"),
        ("0.456", "≈ 0.46"),
        ("0.001", "< 0.01"),
    ],
)
def test_rate_rounding(per_day: str, shown: str) -> None:
    outlook = Forecast(Decimal(per_day), NOW + timedelta(days=3), None, (None,) * 7)
    assert text_of(outlook).split(" Credits/day")[0] == shown


def test_an_absurd_rate_is_unreadable_not_an_error() -> None:
    outlook = Forecast(Decimal("1e400"), NOW, None, (None,) * 7)
    assert text_of(outlook) == "burn rate unreadable · ran out"


def test_spark_text() -> None:
    assert spark_text(NO_HISTORY) is None
    days = (None, None, Decimal(0), Decimal(1), Decimal(2), Decimal(4), Decimal(8))
    assert spark_text(Forecast(Decimal(3), None, None, days)) == "`  ▁▂▃▅█` last 7 days"


# --- the digest ----------------------------------------------------------------------------


def many(count: int) -> list[DigestLine]:
    """A mix of every kind of alias, hostile titles and long problems included."""
    lines = []
    for number in range(count):
        alias = f"alias-{number:03d}"
        match number % 5:
            case 0:
                lines.append(line(alias, number, remaining=0, used=1000, allow=True))
            case 1:
                lines.append(line(alias, number, remaining=30, used=970, title=HOSTILE))
            case 2:
                problem = "The platform answered oddly: " + "&lt;x&gt; " * 400
                lines.append(unreadable(alias, number, problem))
            case _:
                outlook = forecast(steady(74), now=NOW, remaining=Decimal(444))
                lines.append(line(alias, number, change=Decimal("-74.5"), outlook=outlook))
    return lines


@pytest.mark.parametrize("count", [1, 20, 200])
def test_every_message_is_valid_and_no_alias_is_dropped(count: int) -> None:
    lines = many(count)
    messages = digest(lines, late_slot=NOW - timedelta(days=2))
    for message in messages:
        assert_valid(message.blocks)
        assert len(message.blocks) <= MAX_BLOCKS
        ids = [block["block_id"] for block in message.blocks if "block_id" in block]
        assert len(ids) == len(set(ids))
        assert message.text
        for text in mrkdwn_texts(message.blocks):
            assert_escaped(text)
    shown = aliases_shown(messages)
    assert sorted(shown) == sorted(item.alias for item in lines)
    continued = "continued in the thread" in " ".join(mrkdwn_texts(messages[0].blocks))
    assert continued == (len(messages) > 1)
    if count == 200:
        assert len(messages) > 1
        first_count = len(aliases_shown(messages[:1]))
        assert f"{first_count} of 200 aliases here · the other {200 - first_count} continued" in (
            " ".join(mrkdwn_texts(messages[0].blocks))
        )
        assert (
            messages[1]
            .blocks[0]["elements"][0]["text"]
            .startswith(f"Continued: aliases {first_count + 1} to ")
        )


def test_the_summary_counts_low_exhausted_and_unreadable() -> None:
    lines = [
        line("empty", 1, remaining=0, used=100),
        line("overdrawn", 2, remaining=-3, used=100),
        line("few-left", 3, remaining=5, used=95),
        line("soon", 4, remaining=400, used=600, outlook=runs_out_in(timedelta(days=2))),
        line("fine", 5, remaining=400, used=600, outlook=runs_out_in(timedelta(days=5))),
        unreadable("broken", 6),
    ]
    summary = sections(digest(lines)[0])[0]
    assert summary == (
        "6 aliases · 2 low · 2 exhausted · 1 unreadable · global balance 1,234.50 Credits"
    )
    single = sections(digest(lines[4:5], global_balance=None)[0])[0]
    assert single == "1 alias · 0 low · 0 exhausted · global balance unavailable"


def test_exhausted_first_then_low_then_by_name() -> None:
    lines = [
        line("zeta", 1),
        unreadable("alpha", 2),
        line("low-b", 3, remaining=1, used=99),
        line("gone", 4, remaining=0, used=99),
        line("beta", 5),
        line("low-a", 6, remaining=1, used=99),
    ]
    assert aliases_shown(digest(lines)) == ["gone", "low-a", "low-b", "alpha", "beta", "zeta"]


def test_an_alias_shows_remaining_change_forecast_fallback_and_sparkline() -> None:
    outlook = forecast(steady(74), now=NOW, remaining=Decimal(444))
    message = digest([line("prod", change=Decimal("-148"), outlook=outlook)])[0]
    assert sections(message)[1] == (
        ":large_green_circle: *prod* — Midjourney: remaining 444.00 Credits (44.4%) · "
        "-148.00 since the last digest\n"
        "≈ 74 Credits/day · runs out in ~6 days (Wed 2 Dec) · global fallback OFF · "
        "`      █` last 7 days"
    )
    actions = [block for block in message.blocks if block["type"] == "actions"]
    assert [block["block_id"] for block in actions] == [f"{ids.actions_block_id('digest')}:0"]
    buttons = actions[0]["elements"]
    assert [button["action_id"] for button in buttons] == [
        f"{ids.TOGGLE_ACTION}:enable",
        ids.REFRESH_ACTION,
    ]
    target = ids.decode_target(buttons[1]["value"])
    assert (target.alias, target.application_id) == ("prod", app().id)


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (Decimal("12.5"), " · +12.50 since the last digest"),
        (Decimal(0), " · no change since the last digest"),
        (None, ""),
        (Decimal("Infinity"), ""),
    ],
)
def test_change_since_the_last_digest(change: Decimal | None, shown: str) -> None:
    first = sections(digest([line("prod", change=change)])[0])[1].split("\n")[0]
    assert (
        first
        == f":large_green_circle: *prod* — Midjourney: remaining 444.00 Credits (44.4%){shown}"
    )


def test_an_unreadable_alias_gets_its_problem_and_no_buttons() -> None:
    message = digest([unreadable("prod", problem="The token was *rejected*.")])[0]
    assert sections(message)[1] == (
        f":grey_question: *prod* — `{app().id}`: The token was *rejected*."
    )
    assert not [block for block in message.blocks if block["type"] == "actions"]


def test_hostile_titles_and_units_are_escaped_everywhere() -> None:
    hostile = app(title=HOSTILE)
    data = application(hostile.id, title=HOSTILE)
    data["service"]["unit"] = "<!here>"
    hostile = Application.model_validate(data)
    lines = [
        DigestLine(
            "prod", hostile.id, QuotaSnapshot(hostile, global_balance(), NOW), None, None, None
        ),
        line("evil", 1, title=HOSTILE, outlook=runs_out_in(timedelta(days=2))),
    ]
    messages = digest(lines, title=HOSTILE, global_balance=hostile)
    for message in messages:
        assert_valid(message.blocks)
        for text in [*mrkdwn_texts(message.blocks), message.text]:
            assert_escaped(text)
    assert "&lt;!channel&gt;" in sections(messages[0])[1]


def test_late_marker() -> None:
    due = NOW - timedelta(days=3)
    late = digest([line("prod")], late_slot=due)[0]
    contexts = [block["elements"][0]["text"] for block in late.blocks if block["type"] == "context"]
    assert contexts[0].startswith(f"Sent late: this was due <!date^{int(due.timestamp())}^")
    on_time = digest([line("prod")])[0]
    assert "Sent late" not in " ".join(mrkdwn_texts(on_time.blocks))


def test_header_and_notification_text() -> None:
    message = digest([line("prod")], title="x" * 400)[0]
    assert message.blocks[0]["type"] == "header"
    assert len(message.blocks[0]["text"]["text"]) == 150
    plain = digest([line("prod")])[0]
    assert plain.blocks[0]["text"]["text"] == TITLE
    assert plain.text == (
        f"{TITLE}: 1 alias · 0 low · 0 exhausted · global balance 1,234.50 Credits"
    )


def test_no_aliases_yet() -> None:
    messages = digest([])
    assert len(messages) == 1
    assert_valid(messages[0].blocks)
    assert "No aliases are linked here yet" in " ".join(mrkdwn_texts(messages[0].blocks))


def test_block_ids_are_unique_across_the_thread() -> None:
    messages = digest(many(200))
    block_ids = [
        block["block_id"] for message in messages for block in message.blocks if "block_id" in block
    ]
    assert len(block_ids) == len(set(block_ids))
    prefix = ids.actions_block_id("digest") + ":"
    assert all(block_id.startswith(prefix) for block_id in block_ids)
