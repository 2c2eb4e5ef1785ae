"""Bot admins listed in the database; Slack's own admins are checked by the Slack layer."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import BotAdmin
from .workspaces import ensure_workspace


async def is_listed_admin(session: AsyncSession, *, team_id: str, user_id: str) -> bool:
    found = await session.scalar(
        select(BotAdmin.user_id).where(BotAdmin.team_id == team_id, BotAdmin.user_id == user_id)
    )
    return found is not None


async def listed_admins(session: AsyncSession, *, team_id: str) -> list[BotAdmin]:
    rows = await session.scalars(
        select(BotAdmin).where(BotAdmin.team_id == team_id).order_by(BotAdmin.added_at)
    )
    return list(rows.all())


async def add_admin(session: AsyncSession, *, team_id: str, user_id: str, added_by: str) -> bool:
    """Add `user_id`; False if they were already listed."""
    await ensure_workspace(session, team_id)
    if await is_listed_admin(session, team_id=team_id, user_id=user_id):
        return False
    session.add(BotAdmin(team_id=team_id, user_id=user_id, added_by=added_by))
    await session.flush()
    return True


async def remove_admin(session: AsyncSession, *, team_id: str, user_id: str) -> bool:
    """Remove `user_id`; False if they were not listed."""
    removed = await session.scalar(
        delete(BotAdmin)
        .where(BotAdmin.team_id == team_id, BotAdmin.user_id == user_id)
        .returning(BotAdmin.user_id)
    )
    return removed is not None
