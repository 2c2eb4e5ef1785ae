"""The forecast in words: burn rate, when the quota runs out, how long the global balance lasts."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from zoneinfo import ZoneInfo

from ...services.forecast import Forecast, sparkline
from .format import is_displayable

_ROUNDING = Context(prec=60, rounding=ROUND_HALF_UP)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def forecast_text(
    forecast: Forecast, *, unit: str, now: datetime, zone: ZoneInfo, fallback_on: bool
) -> str:
    """`≈ 74 Credits/day · runs out in ~6 days (Wed 2 Dec)`, dates in `zone`; `unit` must
    already be escaped for mrkdwn."""
    per_day = forecast.per_day
    if per_day is None:
        return "Not enough history yet"
    if per_day == 0:
        return "No use in the last week"
    rate = f"{_rate(per_day)} {unit}/day" if is_displayable(per_day) else "burn rate unreadable"
    text = f"{rate} · {_runs_out(forecast.runs_out_at, now, zone)}"
    if fallback_on and forecast.global_lasts_until is not None:
        start = max(forecast.runs_out_at or now, now)
        if forecast.global_lasts_until <= start:
            text += " · the global balance is empty too"
        else:
            text += (
                f" · then the global balance lasts ~{_span(forecast.global_lasts_until - start)}"
            )
    return text


def spark_text(forecast: Forecast) -> str | None:
    """The last 7 days' use as a sparkline in a code span, labelled; None without history."""
    line = sparkline(forecast.daily_use)
    return None if line is None else f"`{line}` last 7 days"


def _rate(per_day: Decimal) -> str:
    """`≈ 1,234`, `≈ 7.5`, `≈ 0.25`; `< 0.01` for a trickle."""
    if per_day >= 100:
        return f"≈ {per_day.quantize(Decimal(1), context=_ROUNDING):,}"
    if per_day >= 1:
        shown = per_day.quantize(Decimal("0.1"), context=_ROUNDING)
        return f"≈ {shown.to_integral_value() if shown == shown.to_integral_value() else shown}"
    shown = per_day.quantize(Decimal("0.01"), context=_ROUNDING)
    return "< 0.01" if shown == 0 else f"≈ {shown}"


def _runs_out(at: datetime | None, now: datetime, zone: ZoneInfo) -> str:
    if at is None:
        return "no end in sight"
    if at <= now:
        return "ran out"
    return f"runs out in ~{_span(at - now)} ({_when(at, now, zone)})"


def _when(at: datetime, now: datetime, zone: ZoneInfo) -> str:
    """`today 17:00` or `tomorrow 03:00` within a day, else `Wed 2 Dec` (with the year when
    it is not this one)."""
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    if at - now < _DAY:
        day = "today" if local.date() == today else "tomorrow"
        return f"{day} {local:%H:%M}"
    year = "" if local.year == today.year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}"


def _span(delta: timedelta) -> str:
    """`5 hours`, `6 days`, `1 minute`: rounded to the nearest whole unit that reads well."""
    if delta < _HOUR:
        return _count(max(1, _nearest(delta / timedelta(minutes=1))), "minute")
    if delta < _DAY:
        return _count(_nearest(delta / _HOUR), "hour")
    return _count(_nearest(delta / _DAY), "day")


def _nearest(value: float) -> int:
    return int(value + 0.5)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
