"""Refusing replayed requests: each signature is accepted once while its timestamp is valid.

Slack refuses requests older than five minutes by their signed timestamp, so a signature only
needs remembering for that long; older ones are purged now and then, not on every request.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.clock import database_now, seconds_ago
from ..db.database import Database, DatabaseUnavailable
from ..db.models import SeenRequestSignature

REMEMBER_SECONDS = 10 * 60


class SignatureLedger:
    """Records request signatures a batch at a time: every signature that arrives within
    `window` seconds goes into one INSERT, so a busy process makes one write where it would
    make hundreds (on SQLite each would wait its turn for the write lock)."""

    def __init__(self, db: Database, *, window: float = 0.005) -> None:
        self._db = db
        self._window = window
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def first_time_seen(self, signature: str, *, timeout: float) -> bool:
        """Record `signature`; False if it was recorded before (the request is a replay).
        DatabaseUnavailable when that cannot be known within `timeout`."""
        key = signature[:80]
        if key in self._waiting:  # the same request twice in one batch: the second replays
            return False
        verdict = asyncio.get_running_loop().create_future()
        self._waiting[key] = verdict
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_while_waiting(timeout))
        return await verdict

    async def _flush_while_waiting(self, timeout: float) -> None:
        """Batch after batch until no signature waits: one that arrived while a batch was being
        written goes into the next."""
        while self._waiting:
            await asyncio.sleep(self._window)
            await self._flush(timeout)

    async def _flush(self, timeout: float) -> None:
        batch, self._waiting = self._waiting, {}
        if not batch:
            return
        statement = (
            self._db.insert()(SeenRequestSignature)
            .values([{"signature": key, "seen_at": database_now()} for key in batch])
            .on_conflict_do_nothing(index_elements=["signature"])
            .returning(SeenRequestSignature.signature)
        )

        async def insert(session: AsyncSession) -> set[str]:
            return set((await session.scalars(statement)).all())

        try:
            fresh = await self._db.run(insert, timeout=timeout)
        except Exception as exc:  # every request waiting on this batch must hear of it
            problem = str(exc) if isinstance(exc, DatabaseUnavailable) else type(exc).__name__
            for verdict in batch.values():
                if not verdict.done():
                    verdict.set_exception(DatabaseUnavailable(problem))
            return
        for key, verdict in batch.items():
            if not verdict.done():
                verdict.set_result(key in fresh)


async def purge_old_signatures(db: Database) -> int:
    """Forget signatures too old to be accepted anyway; how many were forgotten."""
    statement = delete(SeenRequestSignature).where(
        SeenRequestSignature.seen_at < seconds_ago(REMEMBER_SECONDS)
    )

    async def purge(session: AsyncSession) -> int:
        result = await session.execute(statement)
        return result.rowcount or 0  # type: ignore[attr-defined]

    return await db.run(purge)
