"""An application's spend by API over a period: the usage aggregate folded into the top APIs and
"Others", with a total per day.

Amounts stay exact (Decimal) from the aggregate to the Breakdown; shares are exact too, and only
rounded where they are shown. Periods are local days in a zone: `today` from local midnight to
now, `7d` and `30d` the last 7 or 30 local days, today included."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, localcontext
from functools import cache
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from ..acedata import AceDataClient, ApiUsage, Application

logger = logging.getLogger(__name__)

Period = Literal["today", "7d", "30d"]
PERIODS: tuple[Period, ...] = ("today", "7d", "30d")
DAYS: dict[Period, int] = {"today": 1, "7d": 7, "30d": 30}
TOP = 5
USAGE_DEADLINE = 8.0
_EXACT = Context(prec=60)

T = TypeVar("T")


@dataclass(frozen=True)
class PeriodBounds:
    """A period as local days in `zone`: from the first day's local midnight to `until`."""

    period: Period
    zone: ZoneInfo
    since: datetime  # aware, the first day's local midnight
    until: datetime  # aware, now
    days: tuple[date, ...]  # every local day of the period, oldest first

    @property
    def today(self) -> date:
        return self.days[-1]


def period_bounds(period: Period, zone: ZoneInfo, now: datetime) -> PeriodBounds:
    """The period ending at `now` (aware) in `zone`."""
    today = now.astimezone(zone).date()
    days = tuple(today - timedelta(days=back) for back in range(DAYS[period] - 1, -1, -1))
    return PeriodBounds(period, zone, local_midnight(days[0], zone), now, days)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of `day` in `zone`, in UTC (where a clock change skips midnight, the
    moment the day begins after it: a time in the gap is read with the offset before it)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def known_zone(raw: str) -> ZoneInfo | None:
    """The time zone an IANA name stands for (any letter case), or None."""
    name = _zone_names().get(raw.strip().lower())
    return ZoneInfo(name) if name else None


@dataclass(frozen=True)
class ApiShare:
    """One line of a breakdown: an API (or "Others", `api_id` None) and its part of the total."""

    api_id: str | None
    title: str
    amount: Decimal
    share: Decimal  # exact percent of the total (0 when the total is 0)
    apis: int = 1  # how many APIs the line stands for ("Others" folds several)


@dataclass(frozen=True)
class Breakdown:
    """The top APIs by amount, the rest folded into `others`, a total per day and overall."""

    top: tuple[ApiShare, ...]
    others: ApiShare | None
    daily: tuple[tuple[date, Decimal], ...]
    total: Decimal

    @property
    def is_empty(self) -> bool:
        return self.total == 0

    @property
    def lines(self) -> tuple[ApiShare, ...]:
        return (*self.top, *([self.others] if self.others else []))


def fold(usage: ApiUsage, top: int = TOP, days: Sequence[date] | None = None) -> Breakdown:
    """The usage aggregate as a Breakdown: the `top` APIs by amount (ties by title, then id),
    the rest as "Others", each day's total (every one of `days`, a day without usage as 0;
    without `days`, the days the aggregate names). Entries outside `days` are left out."""
    wanted = set(days) if days is not None else None
    by_api: dict[str, Decimal] = {}
    by_day: dict[date, Decimal] = {day: Decimal(0) for day in days or ()}
    with localcontext(_EXACT):
        for item in usage.items:
            if wanted is not None and item.day not in wanted:
                continue
            by_api[item.api_id] = by_api.get(item.api_id, Decimal(0)) + item.amount
            by_day[item.day] = by_day.get(item.day, Decimal(0)) + item.amount
        total = sum(by_api.values(), Decimal(0))
        ranked = sorted(
            ((api_id, spent) for api_id, spent in by_api.items() if spent > 0),
            key=lambda pair: (-pair[1], usage.title(pair[0]).lower(), pair[0]),
        )
        shown = [
            ApiShare(api_id, usage.title(api_id), spent, _share(spent, total))
            for api_id, spent in ranked[: max(top, 0)]
        ]
        rest = ranked[max(top, 0) :]
        others = None
        if rest:
            spent = sum((amount for _, amount in rest), Decimal(0))
            others = ApiShare(None, "Others", spent, _share(spent, total), apis=len(rest))
    return Breakdown(tuple(shown), others, tuple(sorted(by_day.items())), total)


def _share(amount: Decimal, total: Decimal) -> Decimal:
    return amount * 100 / total if total > 0 else Decimal(0)


def whole_percents(shares: Sequence[Decimal]) -> list[int]:
    """Shares (exact percents) as whole percents that add up as the shares do: the largest
    remainders get the points rounding down lost (so a breakdown's lines make 100)."""
    floors = [int(share) for share in shares]
    with localcontext(_EXACT):
        lost = round(sum(shares, Decimal(0))) - sum(floors)
        order = sorted(range(len(shares)), key=lambda i: shares[i] - floors[i], reverse=True)
    for index in order[: max(int(lost), 0)]:
        floors[index] += 1
    return floors


@dataclass(frozen=True)
class UsageReport:
    """What `/quota usage` shows: the breakdown over the period, the calls that failed in it
    (None: unknown) and the application (None: unreadable, for its title and unit only)."""

    application_id: str
    bounds: PeriodBounds
    breakdown: Breakdown
    failed_calls: int | None
    application: Application | None


async def read_usage(
    client: AceDataClient,
    token: str,
    application_id: str,
    *,
    bounds: PeriodBounds,
    deadline: float = USAGE_DEADLINE,
) -> UsageReport:
    """The application's spend by API over `bounds` (AceDataError if the aggregate cannot be
    read), with its failed calls and the application itself read alongside, best effort."""
    side = asyncio.gather(
        _best_effort(
            client,
            "failed calls",
            lambda: client.failed_calls(
                token, application_id, since=bounds.since, until=bounds.until, deadline=deadline
            ),
        ),
        _best_effort(
            client,
            "application",
            lambda: client.get_application(token, application_id, deadline=deadline, shared=True),
        ),
    )
    try:
        usage = await client.usage_by_api(
            token,
            application_id,
            since=bounds.since,
            until=bounds.until,
            zone=bounds.zone.key,
            deadline=deadline,
        )
    except BaseException:
        side.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await side  # given up on, but awaited: nothing is left unretrieved
        raise
    failed, application = await side
    breakdown = fold(usage, days=bounds.days)
    _notice_outside(client, usage, breakdown)
    return UsageReport(application_id, bounds, breakdown, failed, application)


async def _best_effort(
    client: AceDataClient, what: str, read: Callable[[], Awaitable[T]]
) -> T | None:
    """What `read` gives, or None when Ace Data Cloud cannot say (logged, once per process for a
    kind of failure)."""
    try:
        return await read()
    except Exception as exc:  # an AceDataError, or anything else: the line is left out
        kind = f"usage:{what}:{type(exc).__name__}"
        log = logger.warning if client.first_notice(kind) else logger.debug
        log("Usage: the %s could not be read (%s): %s", what, type(exc).__name__, exc)
        return None


def _notice_outside(client: AceDataClient, usage: ApiUsage, breakdown: Breakdown) -> None:
    """The aggregate named days outside the period it was asked for: left out, said once."""
    with localcontext(_EXACT):
        listed = sum((item.amount for item in usage.items), Decimal(0))
    if listed != breakdown.total and client.first_notice("usage:days-outside"):
        logger.warning("The usage aggregate answered with days outside the asked period")


def top_apis(
    usage: ApiUsage, count: int, days: Sequence[date] | None = None
) -> tuple[ApiShare, ...]:
    """The `count` APIs that cost most over `days` (all when None), with their share of the
    whole; none when nothing was spent."""
    return fold(usage, top=count, days=days).top
