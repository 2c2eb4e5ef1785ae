"""The forecast: burn rate from use, time to exhaustion, the global balance, the sparkline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.services.forecast import Observation, forecast, sparkline

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def reading(hours_ago: float, remaining: float, used: float) -> Observation:
    return Observation(
        NOW - timedelta(hours=hours_ago), Decimal(str(remaining)), Decimal(str(used))
    )


def test_steady_use_gives_the_rate_and_the_day_it_runs_out() -> None:
    history = [reading(48 - hour, 1000 - 3 * hour, 3 * hour) for hour in range(49)]
    result = forecast(history, now=NOW, remaining=Decimal(856))
    assert result.per_day == Decimal(72)
    assert result.runs_out_at is not None
    assert abs(result.runs_out_at - (NOW + timedelta(days=856 / 72))) < timedelta(seconds=1)


def test_a_top_up_does_not_read_as_negative_use() -> None:
    history = [reading(4, 100, 0), reading(3, 90, 10), reading(2, 590, 10), reading(0, 570, 30)]
    result = forecast(history, now=NOW, remaining=Decimal(570))
    assert result.per_day == Decimal(30) * 24 / 4


def test_a_counter_reset_is_not_use() -> None:
    history = [reading(2, 50, 950), reading(1, 1000, 0), reading(0, 990, 10)]
    assert forecast(history, now=NOW, remaining=Decimal(990)).per_day == Decimal(10) * 24 / 2


def test_no_use_means_no_date() -> None:
    history = [reading(5, 100, 0), reading(0, 100, 0)]
    result = forecast(history, now=NOW, remaining=Decimal(100))
    assert result.per_day == 0
    assert result.runs_out_at is None


def test_one_observation_is_not_enough_history() -> None:
    result = forecast([reading(1, 100, 0)], now=NOW, remaining=Decimal(100))
    assert result.per_day is None
    assert result.runs_out_at is None


def test_under_ten_minutes_is_not_enough_history() -> None:
    history = [reading(0.1, 100, 0), reading(0, 90, 10)]
    assert forecast(history, now=NOW, remaining=Decimal(90)).per_day is None


def test_a_clock_going_backwards_only_reorders_the_readings() -> None:
    ordered = [reading(2, 100, 0), reading(1, 90, 10), reading(0, 80, 20)]
    shuffled = [ordered[2], ordered[0], ordered[1], ordered[1]]
    assert forecast(shuffled, now=NOW, remaining=Decimal(80)) == forecast(
        ordered, now=NOW, remaining=Decimal(80)
    )


def test_readings_from_the_future_are_ignored() -> None:
    history = [reading(2, 100, 0), reading(0, 90, 10), reading(-5, 0, 1000)]
    assert forecast(history, now=NOW, remaining=Decimal(90)).per_day == Decimal(10) * 24 / 2


def test_an_exhausted_quota_runs_out_now_and_the_global_balance_takes_over() -> None:
    history = [reading(24, 10, 0), reading(0, 0, 10)]
    result = forecast(
        history, now=NOW, remaining=Decimal(0), fallback_on=True, global_remaining=Decimal(50)
    )
    assert result.runs_out_at == NOW
    assert result.global_lasts_until == NOW + timedelta(days=5)


def test_the_global_balance_is_only_counted_with_the_fallback_on() -> None:
    history = [reading(24, 20, 0), reading(0, 10, 10)]
    result = forecast(history, now=NOW, remaining=Decimal(10), global_remaining=Decimal(50))
    assert result.global_lasts_until is None


def test_daily_use_and_sparkline() -> None:
    history = [reading(24 * day, 100 + day, 6 - day) for day in range(6, -1, -1)]
    result = forecast(history, now=NOW, remaining=Decimal(94))
    assert result.daily_use == (None, 1, 1, 1, 1, 1, 1)
    assert sparkline([Decimal(0), Decimal(1), Decimal(4), Decimal(8), None]) == "▁▂▅█ "
    assert sparkline([None, None]) is None
    assert sparkline([Decimal(0), Decimal(0)]) == "▁▁"
