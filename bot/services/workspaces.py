"""Workspaces and their Ace Data Cloud platform token."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.models import Workspace, utcnow
from .errors import NoTokenConfigured


async def ensure_workspace(session: AsyncSession, team_id: str) -> None:
    """Create the workspace row if missing, safely when two requests race to do it."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(Workspace)
        .values(team_id=team_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["team_id"])
    )


async def platform_token(
    session: AsyncSession, team_id: str, fallback: str | None = None
) -> str | None:
    """The workspace's token, else the operator's ACEDATA_PLATFORM_TOKEN, else None."""
    stored = await session.scalar(
        select(Workspace.acedata_token).where(Workspace.team_id == team_id)
    )
    return stored or fallback


async def require_platform_token(
    sessions: async_sessionmaker[AsyncSession], team_id: str, fallback: str | None
) -> str:
    """The token to use for `team_id`, or NoTokenConfigured."""
    async with sessions() as session:
        token = await platform_token(session, team_id, fallback)
    if token is None:
        raise NoTokenConfigured()
    return token


async def store_token(
    session: AsyncSession, *, team_id: str, token: str, account: str, user_id: str
) -> None:
    """Save a checked token (encrypted by its column type) with who set it and for which account."""
    await ensure_workspace(session, team_id)
    workspace = await session.get_one(Workspace, team_id, with_for_update=True)
    workspace.acedata_token = token
    workspace.acedata_token_last4 = token[-4:]
    workspace.acedata_account = account[:255]
    workspace.token_set_by = user_id
    workspace.token_set_at = utcnow()
