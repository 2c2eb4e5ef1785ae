"""A lock per (workspace, application) kept as a database row, so it holds across processes.

A row is inserted to take the lock and deleted to release it; the primary key makes a second
insert fail while the first holder has it. A holder that died leaves a row behind, which is
taken over once it is older than STALE_AFTER.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import FallbackLock, utcnow

STALE_AFTER = timedelta(seconds=60)
POLL_INTERVAL = 0.1


class LockBusy(Exception):
    """Somebody else held the lock for longer than the caller was willing to wait."""


@asynccontextmanager
async def application_lock(
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    application_id: str,
    wait: float,
) -> AsyncIterator[None]:
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not await _try_acquire(sessions, team_id, application_id, holder):
        if time.monotonic() >= deadline:
            raise LockBusy(application_id)
        await asyncio.sleep(POLL_INTERVAL)
    try:
        yield
    finally:
        async with sessions() as session, session.begin():
            await session.execute(
                delete(FallbackLock).where(
                    FallbackLock.team_id == team_id,
                    FallbackLock.application_id == application_id,
                    FallbackLock.holder == holder,
                )
            )


async def _try_acquire(
    sessions: async_sessionmaker[AsyncSession], team_id: str, application_id: str, holder: str
) -> bool:
    async with sessions() as session:
        try:
            async with session.begin():
                await session.execute(
                    delete(FallbackLock).where(
                        FallbackLock.team_id == team_id,
                        FallbackLock.application_id == application_id,
                        FallbackLock.acquired_at < utcnow() - STALE_AFTER,
                    )
                )
                session.add(
                    FallbackLock(team_id=team_id, application_id=application_id, holder=holder)
                )
        except IntegrityError:
            return False
    return True
