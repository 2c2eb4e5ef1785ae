"""One process's database: units of work that end within a deadline, and a health check.

Every unit of work is one transaction bounded by `timeout`. A database that is down, frozen or
locked surfaces as DatabaseUnavailable — never a hang, never a raw driver error — so a listener
can tell the user, in a sentence, that nothing was changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .. import metrics
from .clock import database_now
from .models import Heartbeat, Workspace

logger = logging.getLogger(__name__)

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached, or did not answer in time; nothing was saved. Only
    connection trouble reads as this: a bad statement or value is a bug, and fails as one."""


class DatabaseOutcomeUnknown(DatabaseUnavailable):
    """The database stopped answering while committing a change: it may or may not be saved."""


@dataclass
class _Progress:
    committing: bool = False


class Database:
    def __init__(self, engine: AsyncEngine, *, timeout: float) -> None:
        self.engine = engine
        self.timeout = timeout
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self):  # type: ignore[no-untyped-def]
        """The dialect's INSERT, which knows ON CONFLICT."""
        return pg_insert if self.dialect == "postgresql" else sqlite_insert

    async def run(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        timeout: float | None = None,
        changes: bool = False,
    ) -> T:
        """Run `work` in one transaction, committed when it returns. DatabaseUnavailable when
        the database fails or has not answered within `timeout` (default: the runtime's); for
        work that `changes` what users see, DatabaseOutcomeUnknown when that happens during the
        commit, since the change may then have been saved.

        The work runs in its own task and is abandoned, not awaited, once the time is up: a
        driver cancelling a query on a frozen server can itself wait for many seconds. (On
        SQLite it is left to finish rather than cancelled.)
        """
        limit = self.timeout if timeout is None else timeout
        progress = _Progress()
        task = asyncio.ensure_future(self._unit(work, progress, changes))
        try:
            done, _ = await asyncio.wait({task}, timeout=limit)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            # SQLite's waits end by themselves (its busy timeout is shorter than ours); cancelled
            # mid-statement, a write would keep SQLite's write lock until garbage collection.
            if self.dialect != "sqlite":
                task.cancel()
            task.add_done_callback(_forget)
            problem = f"no answer within {limit:g} s"
            metrics.DATABASE_UNAVAILABLE.labels("timeout").inc()
            if changes and progress.committing:
                raise DatabaseOutcomeUnknown(problem + " while committing")
            raise DatabaseUnavailable(problem)
        return task.result()

    async def _unit(
        self, work: Callable[[AsyncSession], Awaitable[T]], progress: _Progress, changes: bool
    ) -> T:
        try:
            async with self.sessions() as session, session.begin():
                result = await work(session)
                progress.committing = True
            return result
        except (OperationalError, InterfaceError, PoolTimeout, OSError) as exc:
            metrics.DATABASE_UNAVAILABLE.labels(
                "timeout" if isinstance(exc, PoolTimeout) else "error"
            ).inc()
            if changes and progress.committing:
                raise DatabaseOutcomeUnknown(describe(exc) + " while committing") from None
            raise DatabaseUnavailable(describe(exc)) from None

    async def is_healthy(self) -> bool:
        """Whether a read and a committed write both succeed within the timeout."""

        async def read_and_write(session: AsyncSession) -> None:
            await session.execute(select(Workspace.team_id).limit(1))
            await session.execute(
                self.insert()(Heartbeat)
                .values(name="web", beat_at=database_now())
                .on_conflict_do_update(index_elements=["name"], set_={"beat_at": database_now()})
            )

        try:
            await self.run(read_and_write)
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            logger.warning("Health check failed: %s", exc)
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _forget(task: asyncio.Future[object]) -> None:
    """Collect what an abandoned unit of work ended with, so nothing is reported unretrieved."""
    if not task.cancelled():
        task.exception()


def describe(exc: BaseException) -> str:
    """A driver error in one short line, without the SQL or parameters SQLAlchemy appends."""
    original = getattr(exc, "orig", None) or exc
    first_line = (str(original).strip().splitlines() or [type(original).__name__])[0]
    return f"{type(original).__name__}: {first_line[:200]}"
