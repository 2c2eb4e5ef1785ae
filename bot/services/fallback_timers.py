"""Timed global fallback: an admin turns it on for a while, and a worker turns it back off
once, whatever the number of workers.

A timer is one row per application. A person's change replaces it (a new time) or removes it
(off, or on for good), inside the application's lock, so a worker switching back never undoes
a change made after its timer was set. A worker claims a due timer with a lease; it switches
the fallback off only while the timer is still the one it claimed, then removes it and only
then says so in the thread: a crash before the removal means another worker switches back
again (finding it off already, so nothing changes twice) and says so; a crash between the
removal and the note loses the note, never doubles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import FallbackTimer, utcnow
from .schedules import local_moment

Duration = Literal["until_off", "1h", "4h", "until_morning"]
DURATIONS: tuple[Duration, ...] = get_args(Duration)
MORNING = time(9, 0)
LEASE = timedelta(minutes=5)


def off_time(duration: Duration, *, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When a fallback switched on at `now` for `duration` goes back off; None: until a person
    turns it off. `until_morning` is 09:00 tomorrow in `zone` (the channel's)."""
    match duration:
        case "1h":
            return now + timedelta(hours=1)
        case "4h":
            return now + timedelta(hours=4)
        case "until_morning":
            tomorrow: date = now.astimezone(zone).date() + timedelta(days=1)
            return local_moment(datetime.combine(tomorrow, MORNING), zone)
    return None


@dataclass(frozen=True)
class Where:
    """Where the switch was made, to say there when it is switched back."""

    alias: str | None
    channel_id: str | None
    thread_ts: str | None


@dataclass(frozen=True)
class Timer:
    team_id: str
    application_id: str
    where: Where
    set_by: str
    approved_by: str | None
    off_at: datetime
    lease_until: datetime | None = None


async def replace_timer(
    session: AsyncSession,
    db: Database,
    *,
    team_id: str,
    application_id: str,
    off_at: datetime | None,
    where: Where,
    set_by: str,
    approved_by: str | None = None,
) -> None:
    """A person's change: the application's timer becomes `off_at`, or none."""
    await session.execute(
        delete(FallbackTimer).where(
            FallbackTimer.team_id == team_id, FallbackTimer.application_id == application_id
        )
    )
    if off_at is None:
        return
    await session.execute(
        db.insert()(FallbackTimer).values(
            team_id=team_id,
            application_id=application_id,
            alias=where.alias,
            channel_id=where.channel_id,
            thread_ts=where.thread_ts,
            set_by=set_by,
            approved_by=approved_by,
            off_at=off_at,
            created_at=utcnow(),
        )
    )


async def off_at(db: Database, *, team_id: str, application_id: str) -> datetime | None:
    """When the application's fallback is due to go back off, if it is timed."""
    query = select(FallbackTimer.off_at).where(
        FallbackTimer.team_id == team_id, FallbackTimer.application_id == application_id
    )

    async def read(session: AsyncSession) -> datetime | None:
        return await session.scalar(query)

    return await db.run(read)


async def team_timers(db: Database, team_id: str) -> list[Timer]:
    """The workspace's timed fallbacks, soonest first (for the App Home)."""
    query = (
        select(FallbackTimer)
        .where(FallbackTimer.team_id == team_id)
        .order_by(FallbackTimer.off_at)
        .limit(20)
    )

    async def read(session: AsyncSession) -> list[Timer]:
        return [_timer(row) for row in (await session.scalars(query)).all()]

    return await db.run(read)


def _timer(row: FallbackTimer) -> Timer:
    return Timer(
        team_id=row.team_id,
        application_id=row.application_id,
        where=Where(row.alias, row.channel_id, row.thread_ts),
        set_by=row.set_by,
        approved_by=row.approved_by,
        off_at=row.off_at,
        lease_until=row.lease_until,
    )


async def claim_due(db: Database, *, now: datetime, lease: timedelta = LEASE) -> list[Timer]:
    """The timers due at `now` that no other worker holds, each now held by this one until
    its lease ends."""
    until = now + lease
    free = or_(FallbackTimer.lease_until.is_(None), FallbackTimer.lease_until < now)

    async def claim(session: AsyncSession) -> list[Timer]:
        if db.dialect == "sqlite":
            # Take SQLite's write lock before reading (see digests.claim_due).
            await session.execute(
                update(FallbackTimer).where(false()).values(off_at=FallbackTimer.off_at)
            )
        query = select(FallbackTimer).where(FallbackTimer.off_at <= now, free).limit(50)
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for row in (await session.scalars(query)).all():
            result = await session.execute(
                update(FallbackTimer)
                .where(_same(row.team_id, row.application_id, row.lease_until), free)
                .values(lease_until=until)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(_timer(row))
        return [Timer(**{**timer.__dict__, "lease_until": until}) for timer in claimed]

    return await db.run(claim)


def _same(team_id: str, application_id: str, lease_until: datetime | None) -> ColumnElement[bool]:
    lease = (
        FallbackTimer.lease_until.is_(None)
        if lease_until is None
        else FallbackTimer.lease_until == lease_until
    )
    return (
        (FallbackTimer.team_id == team_id)
        & (FallbackTimer.application_id == application_id)
        & lease
    )


async def still_claimed(session: AsyncSession, timer: Timer) -> bool:
    """The claimed timer has not been replaced or removed by a person since."""
    found = await session.scalar(
        select(FallbackTimer.off_at).where(
            _same(timer.team_id, timer.application_id, timer.lease_until)
        )
    )
    return found is not None


async def remove_claimed(db: Database, timer: Timer) -> bool:
    """Remove the timer once its switch is done; False if it was replaced meanwhile (then
    nothing is to be said)."""
    statement = delete(FallbackTimer).where(
        _same(timer.team_id, timer.application_id, timer.lease_until)
    )

    async def remove(session: AsyncSession) -> bool:
        result = await session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    return await db.run(remove)
