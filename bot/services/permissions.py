"""Bot admins listed in the database; Slack's own admins are checked by the Slack layer."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import BotAdmin
from . import audit
from .workspaces import ensure_workspace


async def is_listed_admin(db: Database, *, team_id: str, user_id: str) -> bool:
    query = select(BotAdmin.user_id).where(BotAdmin.team_id == team_id, BotAdmin.user_id == user_id)

    async def read(session: AsyncSession) -> str | None:
        return await session.scalar(query)

    return await db.run(read) is not None


async def listed_admins(db: Database, *, team_id: str) -> list[str]:
    query = select(BotAdmin.user_id).where(BotAdmin.team_id == team_id).order_by(BotAdmin.added_at)

    async def read(session: AsyncSession) -> list[str]:
        return list((await session.scalars(query)).all())

    return await db.run(read)


async def add_admin(db: Database, *, team_id: str, user_id: str, added_by: str) -> bool:
    """Add `user_id` (audited); False if they were already listed."""

    async def add(session: AsyncSession) -> bool:
        await ensure_workspace(session, db, team_id)
        added = await session.scalar(
            db.insert()(BotAdmin)
            .values(team_id=team_id, user_id=user_id, added_by=added_by)
            .on_conflict_do_nothing(index_elements=["team_id", "user_id"])
            .returning(BotAdmin.user_id)
        )
        if added is None:
            return False
        await audit.record(
            session,
            team_id=team_id,
            user_id=added_by,
            action="admin_added",
            outcome="changed",
            detail=user_id,
        )
        return True

    return await db.run(add, changes=True)


async def remove_admin(db: Database, *, team_id: str, user_id: str, removed_by: str) -> bool:
    """Remove `user_id` (audited); False if they were not listed."""

    async def remove(session: AsyncSession) -> bool:
        removed = await session.scalar(
            delete(BotAdmin)
            .where(BotAdmin.team_id == team_id, BotAdmin.user_id == user_id)
            .returning(BotAdmin.user_id)
        )
        if removed is None:
            return False
        await audit.record(
            session,
            team_id=team_id,
            user_id=removed_by,
            action="admin_removed",
            outcome="changed",
            detail=user_id,
        )
        return True

    return await db.run(remove, changes=True)
