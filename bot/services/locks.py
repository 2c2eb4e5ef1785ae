"""A lock per (workspace, application) kept as a database row, so it holds across processes.

A row is inserted to take the lock and deleted to release it; the primary key makes a second
insert fail while the first holder has it. A holder that died leaves a row behind, which is
taken over once it is older than `stale_after` by the database's clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.clock import database_now, seconds_ago
from ..db.database import Database, DatabaseUnavailable
from ..db.models import FallbackLock

logger = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 60
POLL_INTERVAL = 0.1


class LockBusy(Exception):
    """Somebody else held the lock for longer than the caller was willing to wait."""


@asynccontextmanager
async def application_lock(
    db: Database,
    *,
    team_id: str,
    application_id: str,
    wait: float,
    stale_after: int = STALE_AFTER_SECONDS,
) -> AsyncIterator[None]:
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not await _try_acquire(db, team_id, application_id, holder, stale_after):
        if time.monotonic() >= deadline:
            raise LockBusy(application_id)
        await asyncio.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
    try:
        yield
    finally:
        await _release(db, team_id, application_id, holder, stale_after)


async def _release(
    db: Database, team_id: str, application_id: str, holder: str, stale_after: int
) -> None:
    # Only our own row: a holder that was taken over must not free its successor's lock.
    statement = delete(FallbackLock).where(
        FallbackLock.team_id == team_id,
        FallbackLock.application_id == application_id,
        FallbackLock.holder == holder,
    )

    async def release(session: AsyncSession) -> None:
        await session.execute(statement)

    try:
        await db.run(release)
    except DatabaseUnavailable as exc:
        logger.warning(
            "Could not release the lock on %s (team=%s); it is taken over after %d s: %s",
            application_id,
            team_id,
            stale_after,
            exc,
        )


async def _try_acquire(
    db: Database, team_id: str, application_id: str, holder: str, stale_after: int
) -> bool:

    async def acquire(session: AsyncSession) -> None:
        await session.execute(
            delete(FallbackLock).where(
                FallbackLock.team_id == team_id,
                FallbackLock.application_id == application_id,
                FallbackLock.acquired_at < seconds_ago(stale_after),
            )
        )
        await session.execute(
            db.insert()(FallbackLock).values(
                team_id=team_id,
                application_id=application_id,
                holder=holder,
                acquired_at=database_now(),
            )
        )

    try:
        await db.run(acquire)
    except IntegrityError:
        return False
    return True
