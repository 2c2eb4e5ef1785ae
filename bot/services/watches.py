"""What low-quota alerts and spike watches share: one row per (channel, alias), set and removed
with an audit row, claimed for a check by moving `next_check_at` on in the same transaction that
reads it (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never check one at once), and
paused after failing rounds in a row for a reason no retry fixes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import QuotaAlert, SpikeAlert
from . import audit
from .workspaces import ensure_workspace

WatchRow = TypeVar("WatchRow", QuotaAlert, SpikeAlert)

# Rounds in a row a watch may fail for a lasting reason before it is paused.
PAUSE_AFTER = 3


async def save_watch(
    db: Database,
    model: type[WatchRow],
    *,
    team_id: str,
    channel_id: str,
    alias: str,
    values: dict[str, object],
    now: datetime,
    user_id: str,
    action: str,
    after: str,
) -> None:
    """Watch `alias` in the channel with `values` (set anew if it was watched), audited."""

    async def save(session: AsyncSession) -> None:
        await ensure_workspace(session, db, team_id)
        await session.execute(
            db.insert()(model)
            .values(team_id=team_id, channel_id=channel_id, alias=alias, created_at=now, **values)
            .on_conflict_do_update(index_elements=["team_id", "channel_id", "alias"], set_=values)
        )
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action=action,
            outcome="changed",
            alias=alias,
            after=after[:64],
            detail=f"channel {channel_id}",
        )

    await db.run(save, changes=True)


async def remove_watch(
    db: Database,
    model: type[WatchRow],
    *,
    team_id: str,
    channel_id: str,
    alias: str,
    user_id: str,
    action: str,
) -> bool:
    """Stop watching `alias` in the channel (audited); False if it was not watched."""

    async def remove(session: AsyncSession) -> bool:
        removed = await session.scalar(
            delete(model)
            .where(model.team_id == team_id, model.channel_id == channel_id, model.alias == alias)
            .returning(model.id)
        )
        if removed is None:
            return False
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action=action,
            outcome="changed",
            alias=alias,
            detail=f"channel {channel_id}",
        )
        return True

    return await db.run(remove, changes=True)


async def claim_rows(
    session: AsyncSession,
    db: Database,
    model: type[WatchRow],
    *,
    now: datetime,
    every: timedelta,
    limit: int,
) -> Sequence[WatchRow]:
    """The watches due at `now` that are not paused, each moved on by `every`."""
    if db.dialect == "sqlite":
        # Take the write lock first, as digests.claim_due does: SQLite has no row locks.
        await session.execute(update(model).where(false()).values(id=model.id))
    query = (
        select(model)
        .where(model.next_check_at <= now, model.paused_reason.is_(None))
        .order_by(model.next_check_at)
        .limit(limit)
    )
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = (await session.scalars(query)).all()
    for row in rows:
        row.next_check_at = now + every
        row.last_checked_at = now
    return rows


async def failed_again(db: Database, model: type[WatchRow], watch_id: int, reason: str) -> bool:
    """Count one more round failed for `reason`; True when this one pauses the watch (so whoever
    set it is told once)."""

    async def count(session: AsyncSession) -> bool:
        failures = await session.scalar(
            update(model)
            .where(model.id == watch_id, model.paused_reason.is_(None))
            .values(failures=model.failures + 1)
            .returning(model.failures)
        )
        if failures is None or failures < PAUSE_AFTER:
            return False
        await session.execute(
            update(model).where(model.id == watch_id).values(paused_reason=reason)
        )
        return True

    return await db.run(count)
