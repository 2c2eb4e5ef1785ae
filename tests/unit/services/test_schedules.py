"""Digest slots in local time: every local slot exactly once, across both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.schedules import Schedule, local_moment


def slots(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every run between `start` and `end`, found the way the worker finds them."""
    found, moment = [], start
    while (moment := schedule.next_run(moment)) < end:
        found.append(moment)
    return found


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("at", [time(9, 0), time(2, 30), time(1, 30), time(0, 0), time(23, 59)])
def test_a_daily_digest_runs_once_on_every_local_day_of_the_year(zone: str, at: time) -> None:
    schedule = Schedule("daily", at, ZoneInfo(zone))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = slots(schedule, start, start + timedelta(days=365))
    local_days = [run.astimezone(schedule.zone).date() for run in runs]
    assert len(local_days) == len(set(local_days)) == 365
    for run in runs:
        local = run.astimezone(schedule.zone)
        if (local.hour, local.minute) != (at.hour, at.minute):
            # Only a slot that does not exist that day moves, to the first minute after the gap.
            wall = datetime.combine(local.date(), at)
            assert local_moment(wall, schedule.zone) == run
            assert local.replace(tzinfo=None) > wall


def test_a_slot_in_the_spring_forward_gap_runs_once_at_the_next_valid_minute() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    schedule = Schedule("daily", time(2, 30), berlin)
    run = schedule.next_run(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert run.astimezone(berlin).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 0)


def test_a_repeated_hour_runs_once_at_its_first_occurrence() -> None:
    new_york = ZoneInfo("America/New_York")
    schedule = Schedule("daily", time(1, 30), new_york)
    start = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    runs = slots(schedule, start, start + timedelta(days=2))
    assert [run.isoformat() for run in runs] == [
        "2026-11-01T05:30:00+00:00",  # 01:30 EDT, the first of the two 01:30s
        "2026-11-02T06:30:00+00:00",  # 01:30 EST
    ]


def test_nine_stays_nine_across_the_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    schedule = Schedule("daily", time(9, 0), berlin)
    runs = slots(schedule, datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC))
    assert [run.astimezone(berlin).hour for run in runs] == [9, 9, 9]
    assert [run.hour for run in runs] == [7, 8, 8]


def test_weekdays_skip_the_weekend_and_weekly_keeps_its_day() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
    weekdays = slots(Schedule("weekdays", time(9), kolkata), start, start + timedelta(days=14))
    weekly = slots(
        Schedule("weekly", time(9), kolkata, weekday=2), start, start + timedelta(days=14)
    )
    assert [run.astimezone(kolkata).strftime("%a") for run in weekdays] == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
    ] * 2
    assert [run.astimezone(kolkata).strftime("%a %H:%M") for run in weekly] == ["Wed 09:00"] * 2
    assert weekly[0].strftime("%H:%M") == "03:30"


def test_descriptions_read_as_the_command_would_set_them() -> None:
    assert Schedule("daily", time(9), ZoneInfo("Asia/Shanghai")).describe() == (
        "Daily digest at 09:00 Asia/Shanghai"
    )
    assert Schedule("weekly", time(17, 30), ZoneInfo("UTC"), weekday=4).describe() == (
        "Weekly digest on Fri at 17:30 UTC"
    )


def test_the_previous_slot_is_the_one_that_was_due() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    schedule = Schedule("weekdays", time(9, 0), berlin)
    monday_morning = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert schedule.previous_run(monday_morning).astimezone(berlin).strftime("%a %H:%M") == (
        "Fri 09:00"
    )
    assert schedule.previous_run(schedule.next_run(monday_morning)) == schedule.next_run(
        monday_morning
    )
