"""How fast an application's quota is being used, and when it runs out. Pure: no I/O.

The burn rate is read from increases of `used_amount`, never from `remaining_amount`: a top-up
raises the remaining amount and must not read as negative use, and a counter that goes down
(a reset) is no use either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, localcontext
from itertools import pairwise

MIN_POINTS = 2
MIN_SPAN = timedelta(minutes=10)
RATE_WINDOW = timedelta(days=7)
SPARK_DAYS = 7
SPARKS = "▁▂▃▄▅▆▇█"
_DAY = Decimal(86400)


@dataclass(frozen=True)
class Observation:
    """One read of an application: what it had left and had used, at a moment."""

    at: datetime
    remaining: Decimal
    used: Decimal
    allow_consume_global: bool | None = None


@dataclass(frozen=True)
class Forecast:
    """`per_day` None means not enough history to say; zero means no use."""

    per_day: Decimal | None
    runs_out_at: datetime | None
    global_lasts_until: datetime | None
    daily_use: tuple[Decimal | None, ...]


def forecast(
    observations: Sequence[Observation],
    *,
    now: datetime,
    remaining: Decimal,
    fallback_on: bool = False,
    global_remaining: Decimal | None = None,
) -> Forecast:
    """The burn rate over the last week of `observations`, when `remaining` runs out at that
    rate, and — with the fallback on — how long the global balance then lasts."""
    points = _usable(observations, now)
    daily = daily_use(points, today=now.astimezone(UTC).date())
    window = [point for point in points if point.at >= now - RATE_WINDOW]
    if len(window) < MIN_POINTS or window[-1].at - window[0].at < MIN_SPAN:
        return Forecast(None, None, None, daily)
    with localcontext(Context(prec=28, traps=[])):
        used = sum(_increases(window), Decimal(0))
        seconds = Decimal((window[-1].at - window[0].at).total_seconds())
        per_day = used * _DAY / seconds
        if not per_day.is_finite():
            return Forecast(None, None, None, daily)
        runs_out = _when_gone(now, remaining, per_day)
        lasts = None
        if fallback_on and global_remaining is not None and runs_out is not None:
            lasts = _when_gone(runs_out, global_remaining, per_day)
    return Forecast(per_day, runs_out, lasts, daily)


def _usable(observations: Sequence[Observation], now: datetime) -> list[Observation]:
    """Finite readings up to `now`, in time order, one per instant (a clock that went backwards
    only reorders them)."""
    seen: dict[datetime, Observation] = {}
    for point in observations:
        if point.at <= now and point.used.is_finite() and point.remaining.is_finite():
            seen[point.at] = point
    return [seen[at] for at in sorted(seen)]


def _increases(points: Sequence[Observation]) -> list[Decimal]:
    return [max(b.used - a.used, Decimal(0)) for a, b in pairwise(points)]


def _when_gone(start: datetime, amount: Decimal, per_day: Decimal) -> datetime | None:
    if amount <= 0:
        return start
    if per_day <= 0:
        return None
    days = amount / per_day
    if days > 36500:  # beyond a century is "not in sight", not a date
        return None
    return start + timedelta(days=float(days))


def daily_use(points: Sequence[Observation], *, today: date) -> tuple[Decimal | None, ...]:
    """Use per UTC day for the last SPARK_DAYS days, oldest first; None for a day the history
    does not cover (no reading on both sides of any part of it)."""
    days = [today - timedelta(days=offset) for offset in range(SPARK_DAYS - 1, -1, -1)]
    totals: dict[date, Decimal] = {}
    for a, b in pairwise(points):
        # An increase is booked on the day it was seen; gaps of days are not spread out.
        day = b.at.astimezone(UTC).date()
        totals[day] = totals.get(day, Decimal(0)) + max(b.used - a.used, Decimal(0))
    return tuple(totals.get(day) for day in days)


def sparkline(values: Sequence[Decimal | None]) -> str | None:
    """`▁▂▃▄▅▆▇█` scaled to the largest value, a space for a day without history; None when no
    day has any."""
    known = [value for value in values if value is not None]
    if not known:
        return None
    top = max(known)
    if top <= 0:
        return "".join(" " if value is None else SPARKS[0] for value in values)
    steps = len(SPARKS) - 1
    return "".join(
        " " if value is None else SPARKS[int((value / top * steps).to_integral_value())]
        for value in values
    )
