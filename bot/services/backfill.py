"""A history for an application the bot has hardly read, worked out from Ace Data Cloud's usage.

A digest or alert set up for such an application would say "Not enough history yet" for days.
Ace Data Cloud's usage aggregate knows what the application used on each of the last days; with
its current amounts that gives the reading the bot would have taken at the end of each day: the
used amount then was today's less everything used since, the remaining amount today's plus
that (so remaining + used stays what it is now). Those readings are stored like any other.

This is a nicety: whatever goes wrong (the aggregate refused, late or unreadable, the database
busy) leaves the history as it was, is logged, and is never raised. The aggregate being
unusable is logged once per process, since it is likely to stay so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, localcontext

from ..acedata import AceDataClient, AceDataError, Application, DailyUsage
from ..db.database import Database, DatabaseUnavailable
from ..db.models import utcnow
from .forecast import Observation
from .history import is_sparse, store_backfill

logger = logging.getLogger(__name__)

BACKFILL_DAYS = 7
# Each call to Ace Data Cloud; the backfill runs after the setup was answered, but a shutdown
# waits for it.
BACKFILL_DEADLINE = 3.0
BACKFILL_CONCURRENCY = 4
_END_OF_DAY = time(23, 59, 59, tzinfo=UTC)
_UNUSABLE = "usage-aggregate-unusable"


class UnusableUsage(ValueError):
    """The daily usage does not fit the application's amounts."""


async def backfill_if_sparse(
    client: AceDataClient,
    db: Database,
    token: str,
    *,
    team_id: str,
    application_id: str,
    now: datetime | None = None,
    deadline: float = BACKFILL_DEADLINE,
) -> int:
    """When the application has too little history for a forecast, store one worked-out reading
    per day of the last week from Ace Data Cloud's daily usage. How many were stored; never
    raises for trouble with Ace Data Cloud or the database."""
    now = now or utcnow()
    where = f"application={application_id} team={team_id}"
    try:
        if not await is_sparse(db, team_id=team_id, application_id=application_id, now=now):
            return 0
    except DatabaseUnavailable as exc:
        logger.warning("History backfill skipped for %s: database unavailable: %s", where, exc)
        return 0
    today = now.astimezone(UTC).date()
    since = datetime.combine(today - timedelta(days=BACKFILL_DAYS), time(0), tzinfo=UTC)
    try:
        usage = await client.daily_usage(
            token, application_id, since=since, until=now, deadline=deadline
        )
    except AceDataError as exc:
        _unusable(client, where, f"{type(exc).__name__}: {exc}")
        return 0
    try:
        application = await client.get_application(token, application_id, deadline=deadline)
    except AceDataError as exc:
        logger.info("History backfill skipped for %s: application unreadable: %s", where, exc)
        return 0
    try:
        points = backfilled_history(usage, application, today=today)
    except UnusableUsage as exc:
        _unusable(client, where, str(exc))
        return 0
    try:
        added = await store_backfill(
            db, team_id=team_id, application_id=application_id, observations=points
        )
    except DatabaseUnavailable as exc:
        logger.warning("History backfill not stored for %s: database unavailable: %s", where, exc)
        return 0
    logger.info("History backfilled for %s: %d daily readings", where, added)
    return added


async def backfill_all(
    client: AceDataClient,
    db: Database,
    token: str,
    *,
    team_id: str,
    application_ids: Iterable[str],
    deadline: float = BACKFILL_DEADLINE,
) -> int:
    """`backfill_if_sparse` for each distinct application, a few at a time. How many readings
    were stored in all."""
    semaphore = asyncio.Semaphore(BACKFILL_CONCURRENCY)

    async def one(application_id: str) -> int:
        async with semaphore:
            return await backfill_if_sparse(
                client,
                db,
                token,
                team_id=team_id,
                application_id=application_id,
                deadline=deadline,
            )

    distinct = dict.fromkeys(application_ids)
    return sum(await asyncio.gather(*(one(application_id) for application_id in distinct)))


def backfilled_history(
    usage: Sequence[DailyUsage], application: Application, *, today: date
) -> list[Observation]:
    """The readings at the end (23:59:59 UTC) of each day of the last week before `today`,
    from the first day the usage covers, oldest first. A day the usage does not name used
    nothing. No readings when the application's own amounts cannot be read. Pure: no I/O.

    With the current used amount U and remaining amount R, and A(d) what was used after day
    d: used = U - A(d), remaining = R + A(d).
    """
    used_now, remaining_now = application.used_amount, application.remaining_amount
    if not (used_now.is_finite() and remaining_now.is_finite()):
        return []
    first = today - timedelta(days=BACKFILL_DAYS)
    covered = [entry.day for entry in usage if entry.day >= first]
    if not covered or min(covered) >= today:
        return []
    points: list[Observation] = []
    with localcontext(Context(prec=60)):
        # What was used before the first day must be no less than nothing.
        if used_now - sum((entry.amount for entry in usage if entry.day >= first), Decimal(0)) < 0:
            raise UnusableUsage(
                "the usage aggregate reports more use than the application's used amount"
            )
        day = min(covered)
        while day < today:
            after = sum((entry.amount for entry in usage if entry.day > day), Decimal(0))
            points.append(
                Observation(
                    at=datetime.combine(day, _END_OF_DAY),
                    remaining=remaining_now + after,
                    used=used_now - after,
                )
            )
            day += timedelta(days=1)
    return points


def _unusable(client: AceDataClient, where: str, reason: str) -> None:
    """Log, once per process, that the aggregate cannot be used; later times only at debug."""
    if client.first_notice(_UNUSABLE):
        logger.warning(
            "Ace Data Cloud's usage aggregate cannot be used to backfill history (first seen "
            "for %s: %s); forecasts start from the bot's own readings. Said once per process.",
            where,
            reason,
        )
    else:
        logger.debug("Usage aggregate unusable for %s: %s", where, reason)
