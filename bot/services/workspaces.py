"""Workspaces and their Ace Data Cloud platform token."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.installations import BOTS_TABLE, store_metadata
from ..db.models import Workspace, utcnow
from . import audit
from .errors import NoTokenConfigured, TokenUnreadable

logger = logging.getLogger(__name__)


async def ensure_workspace(session: AsyncSession, db: Database, team_id: str) -> None:
    """Create the workspace row if missing, safely when two requests race to do it."""
    await session.execute(
        db.insert()(Workspace)
        .values(team_id=team_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["team_id"])
    )


async def platform_token(db: Database, team_id: str, fallback: str | None) -> str:
    """The workspace's token, else the operator's ACEDATA_PLATFORM_TOKEN.

    NoTokenConfigured when there is neither; TokenUnreadable when the stored one cannot be
    decrypted with the current keys and there is no operator token to fall back on.
    """
    query = select(Workspace.acedata_token, Workspace.acedata_token.is_not(None)).where(
        Workspace.team_id == team_id
    )

    async def read(session: AsyncSession) -> tuple[str | None, bool]:
        row = (await session.execute(query)).first()
        return (row[0], bool(row[1])) if row else (None, False)

    token, stored = await db.run(read)
    return choose_token(token, stored=stored, fallback=fallback)


def choose_token(token: str | None, *, stored: bool, fallback: str | None) -> str:
    """The workspace's own token (as decrypted), else the operator's; TokenUnreadable when one
    is stored that no key opens, NoTokenConfigured when there is none."""
    if token is not None:
        return token
    if fallback is not None:
        return fallback
    if stored:
        raise TokenUnreadable()
    raise NoTokenConfigured()


async def save_token(
    db: Database,
    *,
    team_id: str,
    token: str,
    account: str,
    user_id: str,
    timeout: float | None = None,
) -> None:
    """Save a checked token (encrypted by its column type), who set it, for which account, and
    the audit row. A stored token that no current key opens is simply replaced."""

    async def save(session: AsyncSession) -> None:
        await ensure_workspace(session, db, team_id)
        workspace = await session.get_one(Workspace, team_id, with_for_update=True)
        workspace.acedata_token = token
        workspace.acedata_token_last4 = token[-4:]
        workspace.acedata_account = account[:255]
        workspace.token_set_by = user_id
        workspace.token_set_at = utcnow()
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action="token_set",
            outcome="changed",
            after=f"…{token[-4:]}",
            detail=account[:255],
        )

    await db.run(save, changes=True, timeout=timeout)


async def count_unreadable_secrets(db: Database) -> dict[str, int]:
    """How many stored secrets of each kind no current key can decrypt (a lost or changed
    ENCRYPTION_KEY); kinds with none are left out."""
    slack = store_metadata().tables

    async def count(session: AsyncSession) -> dict[str, int]:
        found: dict[str, int] = {}
        columns = [
            ("Ace Data Cloud token", Workspace.__table__.c.acedata_token),
            ("Slack bot token", slack[BOTS_TABLE].c.bot_token),
            ("Slack refresh token", slack[BOTS_TABLE].c.bot_refresh_token),
        ]
        for kind, column in columns:
            values = (await session.scalars(select(column).where(column.is_not(None)))).all()
            # Every row here holds ciphertext; the ones that read back as None are unreadable.
            unreadable = sum(1 for value in values if value is None)
            if unreadable:
                found[kind] = unreadable
        return found

    return await db.run(count)


async def record_enterprise(db: Database, *, team_id: str, enterprise_id: str) -> None:
    """Note which Enterprise Grid org a workspace belongs to (the worker finds an org-wide
    installation's token by it). Only where none is recorded: a request never rewrites a
    workspace's stored identity."""

    async def save(session: AsyncSession) -> None:
        await session.execute(
            db.insert()(Workspace)
            .values(team_id=team_id, enterprise_id=enterprise_id, created_at=utcnow())
            .on_conflict_do_update(
                index_elements=["team_id"],
                set_={"enterprise_id": enterprise_id},
                where=Workspace.enterprise_id.is_(None),
            )
        )

    await db.run(save, changes=True)
