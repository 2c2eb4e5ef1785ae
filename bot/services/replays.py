"""Refusing replayed requests: each signature is accepted once while its timestamp is valid.

Slack refuses requests older than five minutes by their signed timestamp, so a signature only
needs remembering for that long; older ones are purged as new ones arrive.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import SeenRequestSignature, utcnow

REMEMBER_FOR = timedelta(minutes=10)


async def first_time_seen(sessions: async_sessionmaker[AsyncSession], signature: str) -> bool:
    """Record `signature`; False if it was recorded before (the request is a replay)."""
    async with sessions() as session:
        try:
            async with session.begin():
                await session.execute(
                    delete(SeenRequestSignature).where(
                        SeenRequestSignature.seen_at < utcnow() - REMEMBER_FOR
                    )
                )
                session.add(SeenRequestSignature(signature=signature[:80]))
        except IntegrityError:
            return False
    return True
