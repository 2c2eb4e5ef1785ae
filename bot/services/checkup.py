"""What `quota-bot doctor` reads, and only reads: the bot token of each Slack installation and
each workspace's stored Ace Data Cloud token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.installations import BOTS_TABLE, store_metadata
from ..db.models import Workspace


@dataclass(frozen=True)
class InstalledBot:
    """One installation's bot: a workspace's, or an Enterprise Grid org's org-wide one."""

    team_id: str | None
    team_name: str | None
    enterprise_id: str | None
    org_wide: bool
    # None: stored, but no current key opens it.
    token: str | None = field(repr=False)
    expires_at: datetime | None
    # A refresh token is stored (token rotation): an expired token is renewed on next use.
    renewable: bool

    @property
    def name(self) -> str:
        if self.org_wide or self.team_id is None:
            return f"org {self.enterprise_id} (org-wide)"
        return f"{self.team_name} ({self.team_id})" if self.team_name else str(self.team_id)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at.replace(tzinfo=UTC) <= now


async def installed_bots(db: Database, *, client_id: str) -> list[InstalledBot]:
    """The latest bot of each installation of the app `client_id`."""
    bots = store_metadata().tables[BOTS_TABLE]
    query = (
        select(
            bots.c.team_id,
            bots.c.team_name,
            bots.c.enterprise_id,
            bots.c.is_enterprise_install,
            bots.c.bot_token,
            bots.c.bot_token_expires_at,
            bots.c.bot_refresh_token.is_not(None),
        )
        .where(bots.c.client_id == client_id)
        .order_by(bots.c.installed_at.desc(), bots.c.id.desc())
    )

    async def read(session: AsyncSession) -> list[InstalledBot]:
        found: dict[tuple[object, ...], InstalledBot] = {}
        for row in (await session.execute(query)).all():
            team, org_wide = (None, True) if row[3] else (row[0], False)
            found.setdefault(
                (row[2], team, org_wide),
                InstalledBot(row[0], row[1], row[2], bool(row[3]), row[4], row[5], bool(row[6])),
            )
        return sorted(found.values(), key=lambda bot: bot.name)

    return await db.run(read)


@dataclass(frozen=True)
class StoredToken:
    team_id: str
    # None: stored, but no current key opens it.
    token: str | None = field(repr=False)
    # The account it belonged to when it was set.
    account: str | None


async def stored_tokens(db: Database) -> list[StoredToken]:
    """Every workspace's stored Ace Data Cloud token, by team ID."""
    query = (
        select(Workspace.team_id, Workspace.acedata_token, Workspace.acedata_account)
        .where(Workspace.acedata_token.is_not(None))
        .order_by(Workspace.team_id)
    )

    async def read(session: AsyncSession) -> list[StoredToken]:
        return [StoredToken(*row) for row in (await session.execute(query)).all()]

    return await db.run(read)
