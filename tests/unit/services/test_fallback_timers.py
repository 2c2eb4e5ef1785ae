"""When a timed global fallback goes back off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.fallback_timers import DURATIONS, off_time

NOW = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)


def test_until_turned_off_has_no_time() -> None:
    assert off_time("until_off", now=NOW, zone=ZoneInfo("UTC")) is None


@pytest.mark.parametrize(("duration", "hours"), [("1h", 1), ("4h", 4)])
def test_hours_count_from_now(duration: str, hours: int) -> None:
    assert off_time(duration, now=NOW, zone=ZoneInfo("Asia/Tokyo")) == NOW + timedelta(hours=hours)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # 22:30 UTC is 07:30 on the 29th in Tokyo: tomorrow there is the 30th.
        ("Asia/Tokyo", datetime(2026, 3, 30, 0, 0, tzinfo=UTC)),
        # 23:30 on the 28th in London; on the 29th clocks go forward (09:00 BST = 08:00 UTC).
        ("Europe/London", datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),
        ("UTC", datetime(2026, 3, 29, 9, 0, tzinfo=UTC)),
        ("America/Los_Angeles", datetime(2026, 3, 29, 16, 0, tzinfo=UTC)),
    ],
)
def test_until_the_morning_is_nine_oclock_tomorrow_in_the_channels_zone(
    zone: str, expected: datetime
) -> None:
    off_at = off_time("until_morning", now=NOW, zone=ZoneInfo(zone))
    assert off_at == expected
    assert off_at is not None and off_at.astimezone(ZoneInfo(zone)).hour == 9


def test_every_duration_is_offered_in_order() -> None:
    assert DURATIONS == ("until_off", "1h", "4h", "until_morning")
