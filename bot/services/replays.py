"""Refusing replayed requests: each signature is accepted once while its timestamp is valid.

Slack refuses requests older than five minutes by their signed timestamp, so a signature only
needs remembering for that long; older ones are purged now and then, not on every request.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.clock import database_now, seconds_ago
from ..db.database import Database
from ..db.models import SeenRequestSignature

REMEMBER_SECONDS = 10 * 60


async def first_time_seen(db: Database, signature: str, *, timeout: float) -> bool:
    """Record `signature`; False if it was recorded before (the request is a replay).
    DatabaseUnavailable when that cannot be known within `timeout`."""
    statement = (
        db.insert()(SeenRequestSignature)
        .values(signature=signature[:80], seen_at=database_now())
        .on_conflict_do_nothing(index_elements=["signature"])
        .returning(SeenRequestSignature.signature)
    )

    async def insert(session: AsyncSession) -> str | None:
        return await session.scalar(statement)

    return await db.run(insert, timeout=timeout) is not None


async def purge_old_signatures(db: Database) -> int:
    """Forget signatures too old to be accepted anyway; how many were forgotten."""
    statement = delete(SeenRequestSignature).where(
        SeenRequestSignature.seen_at < seconds_ago(REMEMBER_SECONDS)
    )

    async def purge(session: AsyncSession) -> int:
        result = await session.execute(statement)
        return result.rowcount or 0  # type: ignore[attr-defined]

    return await db.run(purge)
