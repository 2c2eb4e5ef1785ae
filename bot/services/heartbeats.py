"""Whether the scheduler is running: each of its rounds records a heartbeat, and anyone can
ask how long ago the last one was (the health check, `/quota digest`, `/quota alert`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import DigestSchedule, Heartbeat, QuotaAlert

SCHEDULER = "scheduler"
# Rounds missed before the scheduler counts as not running.
MISSED_ROUNDS = 3


async def beat(db: Database, *, now: datetime, name: str = SCHEDULER) -> None:
    """Record that `name` (a scheduler round) ran at `now`."""
    statement = (
        db.insert()(Heartbeat)
        .values(name=name, beat_at=now)
        .on_conflict_do_update(index_elements=["name"], set_={"beat_at": now})
    )

    async def write(session: AsyncSession) -> None:
        await session.execute(statement)

    await db.run(write)


@dataclass(frozen=True)
class SchedulerStatus:
    last_round_at: datetime | None
    # No round for MISSED_ROUNDS polls while digests or alerts are set: nothing is being sent.
    silent: bool

    def seconds_since(self, now: datetime) -> float | None:
        if self.last_round_at is None:
            return None
        return round((now - self.last_round_at).total_seconds(), 1)


async def scheduler_status(db: Database, *, now: datetime, poll_seconds: float) -> SchedulerStatus:
    """When the scheduler last ran a round, and whether its silence leaves work undone."""

    async def read(session: AsyncSession) -> SchedulerStatus:
        last = await session.scalar(select(Heartbeat.beat_at).where(Heartbeat.name == SCHEDULER))
        if last is not None and last.tzinfo is None:  # SQLite keeps no zone
            last = last.replace(tzinfo=now.tzinfo)
        if last is not None and now - last <= timedelta(seconds=MISSED_ROUNDS * poll_seconds):
            return SchedulerStatus(last, silent=False)
        return SchedulerStatus(last, silent=await _anything_scheduled(session))

    return await db.run(read)


async def _anything_scheduled(session: AsyncSession) -> bool:
    for model in (DigestSchedule, QuotaAlert):
        found = await session.scalar(select(model.id).where(model.paused_reason.is_(None)).limit(1))
        if found is not None:
            return True
    return False
