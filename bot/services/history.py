"""Quota history: every read of an application is kept, thinned with age, and read back for
forecasts. Full detail for 14 days, one reading an hour up to 90 days, nothing older."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Delete, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ..acedata import Application
from ..db.clock import hour_of, seconds_ago
from ..db.database import Database
from ..db.models import KeyReading as KeyReadingRow
from ..db.models import Observation as ObservationRow
from .forecast import MIN_POINTS, RATE_WINDOW, SPARK_DAYS, Observation

logger = logging.getLogger(__name__)

FULL_DETAIL_DAYS = 14
# The closest two stored readings of one application may be (forecasts look at hours and days).
STORE_EVERY = timedelta(minutes=1)
KEEP_DAYS = 90
# Enough for the rate window and the sparkline, whichever reaches further back.
READ_BACK = max(RATE_WINDOW, timedelta(days=SPARK_DAYS + 1))


async def record_and_read(
    db: Database, *, team_id: str, application: Application, at: datetime
) -> list[Observation]:
    """Return the application's recent history with this reading last, oldest first, and store
    the reading unless one was stored within `STORE_EVERY` (with the same fallback state): a
    burst of cards for one application costs one write a minute, not one each."""
    row = ObservationRow(
        team_id=team_id,
        application_id=application.id,
        remaining=str(application.remaining_amount),
        used=str(application.used_amount),
        allow_consume_global=application.allow_consume_global,
        observed_at=at,
    )
    query = (
        select(ObservationRow)
        .where(
            ObservationRow.team_id == team_id,
            ObservationRow.application_id == application.id,
            ObservationRow.observed_at >= at - READ_BACK,
        )
        .order_by(ObservationRow.observed_at, ObservationRow.id)
    )

    current = _observation(row)

    async def write_and_read(session: AsyncSession) -> list[Observation]:
        history = [_observation(found) for found in (await session.scalars(query)).all()]
        earlier = [point for point in history if point.at <= at]
        last = earlier[-1] if earlier else None
        if (
            last is None
            or at - last.at >= STORE_EVERY
            or last.allow_consume_global != current.allow_consume_global
        ):
            session.add(row)
        return [*earlier, current]

    return await db.run(write_and_read)


async def is_sparse(db: Database, *, team_id: str, application_id: str, now: datetime) -> bool:
    """Whether the application has fewer readings in the last week than a forecast needs."""
    query = (
        select(func.count())
        .select_from(ObservationRow)
        .where(
            ObservationRow.team_id == team_id,
            ObservationRow.application_id == application_id,
            ObservationRow.observed_at >= now - RATE_WINDOW,
            ObservationRow.observed_at <= now,
        )
    )

    async def count(session: AsyncSession) -> int:
        return (await session.scalar(query)) or 0

    return await db.run(count) < MIN_POINTS


async def store_backfill(
    db: Database, *, team_id: str, application_id: str, observations: Sequence[Observation]
) -> int:
    """Store readings worked out rather than read (from Ace Data Cloud's daily usage), in one
    transaction. One at an instant the application already has a reading for is left out, so a
    backfill done twice adds nothing the second time. How many were stored."""
    if not observations:
        return 0
    moments = [point.at for point in observations]
    taken_query = select(ObservationRow.observed_at).where(
        ObservationRow.team_id == team_id,
        ObservationRow.application_id == application_id,
        ObservationRow.observed_at >= min(moments),
        ObservationRow.observed_at <= max(moments),
    )

    async def write(session: AsyncSession) -> int:
        taken = set((await session.scalars(taken_query)).all())
        added = 0
        for point in observations:
            if point.at in taken:
                continue
            taken.add(point.at)
            session.add(
                ObservationRow(
                    team_id=team_id,
                    application_id=application_id,
                    remaining=str(point.remaining),
                    used=str(point.used),
                    allow_consume_global=point.allow_consume_global,
                    observed_at=point.at,
                )
            )
            added += 1
        return added

    return await db.run(write)


def _observation(row: ObservationRow) -> Observation:
    return Observation(
        at=row.observed_at,
        remaining=Decimal(row.remaining),
        used=Decimal(row.used),
        allow_consume_global=row.allow_consume_global,
    )


async def prune(db: Database) -> int:
    """Thin old history, quota readings and API-key readings alike: one reading an hour (per
    application, or per key) past 14 days, none past 90. How many went."""
    statements = [
        *_thinning(ObservationRow, ObservationRow.application_id),
        *_thinning(KeyReadingRow, KeyReadingRow.application_id, KeyReadingRow.key_id),
    ]

    async def thin(session: AsyncSession) -> int:
        gone = 0
        for statement in statements:
            gone += (await session.execute(statement)).rowcount or 0  # type: ignore[attr-defined]
        return gone

    return await db.run(thin)


def _thinning(
    row: type[ObservationRow] | type[KeyReadingRow], *series: InstrumentedAttribute[str]
) -> list[Delete]:
    """The deletes that thin one table of readings: what is past `KEEP_DAYS`, then all but the
    first reading of each clock hour (per team and `series`) past `FULL_DETAIL_DAYS`."""
    detailed_until = seconds_ago(FULL_DETAIL_DAYS * 86400)
    keepers = (
        select(func.min(row.id))
        .where(row.observed_at < detailed_until)
        .group_by(row.team_id, *series, hour_of(row.observed_at))
    )
    too_old = delete(row).where(row.observed_at < seconds_ago(KEEP_DAYS * 86400))
    thinned = delete(row).where(row.observed_at < detailed_until, row.id.not_in(keepers))
    return [too_old, thinned]


async def remaining_at(
    db: Database, *, team_id: str, application_id: str, at: datetime
) -> Decimal | None:
    """What the application had left at `at` by the last reading before it, if any."""
    query = (
        select(ObservationRow.remaining)
        .where(
            ObservationRow.team_id == team_id,
            ObservationRow.application_id == application_id,
            ObservationRow.observed_at <= at,
        )
        .order_by(ObservationRow.observed_at.desc(), ObservationRow.id.desc())
        .limit(1)
    )

    async def read(session: AsyncSession) -> str | None:
        return await session.scalar(query)

    found = await db.run(read)
    return None if found is None else Decimal(found)
