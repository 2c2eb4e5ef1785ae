"""The usage breakdown folding (top APIs, "Others", shares, days) and a period's bounds in a
zone: pure functions, worked-out figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.acedata import ApiDayAmount, ApiUsage
from bot.services.usage import fold, known_zone, period_bounds, top_apis, whole_percents

DAY = date(2026, 12, 4)


def usage(rows: list[tuple[date, str, str]], titles: dict[str, str] | None = None) -> ApiUsage:
    return ApiUsage(
        items=tuple(ApiDayAmount(day=d, api_id=a, amount=Decimal(x)) for d, a, x in rows),
        titles=titles or {},
    )


def test_the_top_five_by_amount_and_the_rest_as_others() -> None:
    spent = {"a": "50", "b": "20", "c": "10", "d": "8", "e": "5", "f": "4", "g": "3"}
    result = fold(usage([(DAY, api, amount) for api, amount in spent.items()]))

    assert [(line.api_id, line.amount) for line in result.top] == [
        ("a", Decimal(50)),
        ("b", Decimal(20)),
        ("c", Decimal(10)),
        ("d", Decimal(8)),
        ("e", Decimal(5)),
    ]
    assert result.others is not None
    assert (result.others.api_id, result.others.amount, result.others.apis) == (None, 7, 2)
    assert result.total == Decimal(100)
    assert [line.share for line in result.lines] == [50, 20, 10, 8, 5, 7]


def test_amounts_stay_exact_and_whole_shares_add_up_to_100() -> None:
    # Three equal thirds, and float-looking amounts that must not drift.
    result = fold(
        usage([(DAY, "a", "0.1"), (DAY, "b", "0.1"), (DAY, "c", "0.1"), (DAY, "a", "0.2")])
    )
    assert result.total == Decimal("0.5")
    assert [line.amount for line in result.lines] == [
        Decimal("0.3"),
        Decimal("0.1"),
        Decimal("0.1"),
    ]
    shares = [line.share for line in result.lines]
    assert sum(shares) == 100
    assert whole_percents(shares) == [60, 20, 20]

    thirds = fold(usage([(DAY, "a", "1"), (DAY, "b", "1"), (DAY, "c", "1")]))
    wholes = whole_percents([line.share for line in thirds.lines])
    assert sum(wholes) == 100
    assert sorted(wholes) == [33, 33, 34]


def test_ties_are_ranked_by_title_then_id_whatever_the_order_read() -> None:
    rows = [(DAY, "z9", "5"), (DAY, "a1", "5"), (DAY, "m5", "5"), (DAY, "b2", "5")]
    titles = {"z9": "Alpha", "a1": "Beta", "m5": "Alpha"}
    first = fold(usage(rows, titles), top=3)
    second = fold(usage(list(reversed(rows)), titles), top=3)
    # "b2" has no title: it is ranked by its id, which sorts before "Beta".
    assert [line.api_id for line in first.top] == ["m5", "z9", "b2"]
    assert first == second
    assert first.others is not None and first.others.apis == 1


def test_no_usage_is_an_empty_breakdown_with_every_day_at_zero() -> None:
    days = [DAY - timedelta(days=n) for n in (2, 1, 0)]
    for empty in (usage([]), usage([(DAY, "a", "0")])):
        result = fold(empty, days=days)
        assert result.is_empty
        assert result.top == () and result.others is None
        assert result.daily == tuple((day, Decimal(0)) for day in days)


def test_an_api_without_a_title_is_named_by_its_id() -> None:
    result = fold(usage([(DAY, "api-7", "2"), (DAY, "api-8", "1")], {"api-8": "Suno Audio"}))
    assert [line.title for line in result.top] == ["api-7", "Suno Audio"]


def test_each_day_of_the_period_gets_its_total_and_days_outside_are_left_out() -> None:
    days = [DAY - timedelta(days=n) for n in (2, 1, 0)]
    rows = [
        (days[0], "a", "1.5"),
        (days[0], "b", "2"),
        (days[2], "a", "0.25"),
        (DAY - timedelta(days=5), "a", "100"),  # before the period
    ]
    result = fold(usage(rows), days=days)
    assert result.daily == (
        (days[0], Decimal("3.5")),
        (days[1], Decimal(0)),
        (days[2], Decimal("0.25")),
    )
    assert result.total == Decimal("3.75")


def test_no_others_when_five_or_fewer_apis() -> None:
    result = fold(usage([(DAY, "a", "1"), (DAY, "b", "2")]))
    assert result.others is None
    assert len(result.top) == 2
    assert top_apis(usage([(DAY, "a", "1"), (DAY, "b", "3")]), 1)[0].api_id == "b"
    assert top_apis(usage([]), 3) == ()


def test_today_runs_from_local_midnight_to_now() -> None:
    now = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # 04:00 on the 5th in Shanghai
    bounds = period_bounds("today", ZoneInfo("Asia/Shanghai"), now)
    assert bounds.days == (date(2026, 12, 5),)
    assert bounds.since == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert bounds.until == now

    west = period_bounds("today", ZoneInfo("America/Los_Angeles"), now)  # 12:00 on the 4th
    assert west.days == (date(2026, 12, 4),)
    assert west.since == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_seven_and_thirty_days_count_today_and_cross_a_clock_change() -> None:
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    week = period_bounds("7d", ZoneInfo("Europe/Berlin"), now)
    assert week.days == tuple(date(2026, 11, 14) + timedelta(days=n) for n in range(7))
    assert week.since == datetime(2026, 11, 13, 23, 0, tzinfo=UTC)  # CET, UTC+1

    month = period_bounds("30d", ZoneInfo("Europe/Berlin"), now)
    assert len(month.days) == 30 and month.days[-1] == date(2026, 11, 20)
    assert month.days[0] == date(2026, 10, 22)
    assert month.since == datetime(2026, 10, 21, 22, 0, tzinfo=UTC)  # still CEST, UTC+2


def test_a_day_whose_midnight_is_skipped_starts_when_the_clocks_go_on() -> None:
    # Chile springs forward at midnight: 6 September 2026 begins at 01:00 local (04:00 UTC).
    now = datetime(2026, 9, 6, 12, 0, tzinfo=UTC)
    bounds = period_bounds("today", ZoneInfo("America/Santiago"), now)
    assert bounds.days == (date(2026, 9, 6),)
    assert bounds.since == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)


def test_known_zone_takes_any_letter_case_and_refuses_the_rest() -> None:
    assert known_zone("europe/berlin") == ZoneInfo("Europe/Berlin")
    assert known_zone("") is None
    assert known_zone("Mars/Olympus") is None
    assert known_zone("../etc/passwd") is None
