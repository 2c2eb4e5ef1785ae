"""A workspace's life with the app: installed (OAuth), uninstalled or its tokens revoked, and
purged on request.

Uninstalling deletes secrets at once (the workspace's Slack tokens and its Ace Data Cloud token)
and pauses its digests and alerts; aliases, admins, schedules and audit stay, so installing again
and setting a token restores the setup. Purging deletes everything the bot holds for a workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.installations import BOTS_TABLE, INSTALLATIONS_TABLE, OAUTH_STATES_TABLE, store_metadata
from ..db.models import (
    Alias,
    AuditEvent,
    BotAdmin,
    DigestDelivery,
    DigestSchedule,
    FallbackLock,
    KeyPause,
    KeyReading,
    Observation,
    QuotaAlert,
    SpikeAlert,
    Workspace,
)
from . import audit
from .delivery import UNINSTALLED
from .digests import schedule_of

_SLACK_TABLES = store_metadata().tables
_INSTALLATION_TABLES: tuple[Table, ...] = (
    _SLACK_TABLES[INSTALLATIONS_TABLE],
    _SLACK_TABLES[BOTS_TABLE],
)


def _served_by_org(enterprise_id: str | None) -> Select[tuple[str]]:
    """The workspaces of an org that an org-wide install serves: those of the org without an
    installation of their own."""
    bots = _SLACK_TABLES[BOTS_TABLE]
    own = select(bots.c.team_id).where(bots.c.team_id == Workspace.team_id)
    return select(Workspace.team_id).where(Workspace.enterprise_id == enterprise_id, ~own.exists())


async def _installed_after(session: AsyncSession, slack_id: str, when: datetime) -> bool:
    """Whether the installation of `slack_id` (a team, or an org's org-wide one) was made
    after `when`."""
    table = _SLACK_TABLES[INSTALLATIONS_TABLE]
    latest = await session.scalar(
        select(func.max(table.c.installed_at)).where(_installed_for(table, slack_id))
    )
    if latest is None:
        return False
    # slack_sdk stores installed_at as naive UTC; Slack's event_time is in whole seconds.
    return latest.replace(tzinfo=UTC) >= when + timedelta(seconds=1)


@dataclass(frozen=True)
class Installed:
    first_admin: bool
    resumed: int


async def installed(
    db: Database, *, team_id: str, enterprise_id: str | None, installer: str, now: datetime
) -> Installed:
    """A workspace finished installing: note it, make the installer its first bot admin if it
    has none, and resume what an uninstall paused."""

    async def save(session: AsyncSession) -> Installed:
        values = {"enterprise_id": enterprise_id} if enterprise_id else {}
        statement = db.insert()(Workspace).values(team_id=team_id, created_at=now, **values)
        await session.execute(
            statement.on_conflict_do_update(index_elements=["team_id"], set_=values)
            if values
            else statement.on_conflict_do_nothing(index_elements=["team_id"])
        )
        admins = await session.scalar(
            select(func.count()).select_from(BotAdmin).where(BotAdmin.team_id == team_id)
        )
        if not admins:
            session.add(BotAdmin(team_id=team_id, user_id=installer, added_by=installer))
        resumed = await _resume(session, team_id, now)
        await audit.record(
            session,
            team_id=team_id,
            user_id=installer,
            action="installed",
            outcome="changed",
            detail="first bot admin: installer" if not admins else None,
        )
        return Installed(first_admin=not admins, resumed=resumed)

    return await db.run(save, changes=True)


async def installed_org_wide(
    db: Database, *, enterprise_id: str, installer: str, now: datetime
) -> int:
    """An org installed the app org-wide: resume what its uninstall paused in each workspace it
    serves (audited there). How many schedules and alerts were resumed."""

    async def resume(session: AsyncSession) -> int:
        teams = list(await session.scalars(_served_by_org(enterprise_id)))
        resumed = 0
        for team in teams:
            resumed += await _resume(session, team, now)
            await audit.record(
                session,
                team_id=team,
                user_id=installer,
                action="installed",
                outcome="changed",
                detail=f"org-wide ({enterprise_id})",
            )
        return resumed

    return await db.run(resume, changes=True)


async def _resume(session: AsyncSession, team_id: str, now: datetime) -> int:
    """Resume the workspace's digests (at their next slot: no late one for the gap) and alerts
    that an uninstall paused; how many."""
    resumed = 0
    paused = DigestSchedule.paused_reason == UNINSTALLED
    for row in await session.scalars(
        select(DigestSchedule).where(DigestSchedule.team_id == team_id, paused)
    ):
        row.paused_reason = None
        row.next_run_at = schedule_of(row).next_run(now)
        resumed += 1
    for model in (QuotaAlert, SpikeAlert):
        alerts = await session.execute(
            update(model)
            .where(model.team_id == team_id, model.paused_reason == UNINSTALLED)
            .values(paused_reason=None, next_check_at=now)
        )
        resumed += int(alerts.rowcount)  # type: ignore[attr-defined]
    return resumed


async def uninstalled(
    db: Database,
    *,
    team_id: str | None,
    enterprise_id: str | None,
    org_wide: bool,
    reason: str,
    event_time: datetime | None = None,
) -> list[str]:
    """Delete the Slack tokens and Ace Data Cloud token of the workspace (every workspace of the
    org for an org-wide install) and pause their digests and alerts, in one transaction. The
    team IDs affected. An event older than the installation it would end (Slack redelivering
    it after a quick re-install) changes nothing."""

    async def forget(session: AsyncSession) -> list[str]:
        installed_as = enterprise_id if org_wide else team_id
        if installed_as is None:
            return []
        if event_time is not None and await _installed_after(session, installed_as, event_time):
            return []
        if org_wide:
            teams = list(await session.scalars(_served_by_org(enterprise_id)))
        else:
            teams = [installed_as]
        for table in _INSTALLATION_TABLES:
            await session.execute(delete(table).where(_installed_for(table, installed_as)))
        if not teams:
            return []
        await session.execute(
            update(Workspace)
            .where(Workspace.team_id.in_(teams))
            .values(
                acedata_token=None,
                acedata_token_last4=None,
                acedata_account=None,
                token_set_by=None,
                token_set_at=None,
            )
        )
        for model in (DigestSchedule, QuotaAlert, SpikeAlert):
            await session.execute(
                update(model)
                .where(model.team_id.in_(teams), model.paused_reason.is_(None))
                .values(paused_reason=UNINSTALLED)
            )
        for team in teams:
            await audit.record(
                session, team_id=team, user_id="slack", action="uninstalled", outcome=reason
            )
        return teams

    return await db.run(forget, changes=True)


# Every table holding rows of a workspace, by its team_id column.
_WORKSPACE_MODELS = (
    DigestSchedule,
    QuotaAlert,
    SpikeAlert,
    KeyPause,
    KeyReading,
    Alias,
    BotAdmin,
    AuditEvent,
    FallbackLock,
    Observation,
    Workspace,
)


def _installed_for(table: Table, slack_id: str) -> ColumnElement[bool]:
    """A workspace's own installation rows, or for an org ID (E…) its org-wide installation."""
    if slack_id.startswith("E"):
        return (table.c.enterprise_id == slack_id) & table.c.team_id.is_(None)
    return table.c.team_id == slack_id


async def held_for(db: Database, *, team_id: str) -> dict[str, int]:
    """How many rows each table holds for one workspace (what `purge` would delete)."""

    async def count(session: AsyncSession) -> dict[str, int]:
        schedules = select(DigestSchedule.id).where(DigestSchedule.team_id == team_id)
        held = {
            DigestDelivery.__tablename__: await session.scalar(
                select(func.count()).where(DigestDelivery.schedule_id.in_(schedules))
            )
            or 0
        }
        for model in _WORKSPACE_MODELS:
            held[model.__tablename__] = (
                await session.scalar(select(func.count()).where(model.team_id == team_id)) or 0
            )
        for table in _INSTALLATION_TABLES:
            held[table.name] = (
                await session.scalar(
                    select(func.count()).select_from(table).where(_installed_for(table, team_id))
                )
                or 0
            )
        return held

    return await db.run(count)


async def purge(db: Database, *, team_id: str) -> dict[str, int]:
    """Delete everything held for one workspace, in one transaction; rows deleted per table."""

    async def delete_all(session: AsyncSession) -> dict[str, int]:
        schedules = select(DigestSchedule.id).where(DigestSchedule.team_id == team_id)
        result = await session.execute(
            delete(DigestDelivery).where(DigestDelivery.schedule_id.in_(schedules))
        )
        deleted = {DigestDelivery.__tablename__: result.rowcount}  # type: ignore[attr-defined]
        for model in _WORKSPACE_MODELS:
            result = await session.execute(delete(model).where(model.team_id == team_id))
            deleted[model.__tablename__] = result.rowcount  # type: ignore[attr-defined]
        for table in _INSTALLATION_TABLES:
            result = await session.execute(delete(table).where(_installed_for(table, team_id)))
            deleted[table.name] = result.rowcount  # type: ignore[attr-defined]
        return deleted

    return await db.run(delete_all, changes=True)


async def purge_expired_states(db: Database, *, now: datetime) -> int:
    """Forget install links (OAuth states) that expired unused: anyone can open /slack/install,
    so they must not pile up."""
    states = _SLACK_TABLES[OAUTH_STATES_TABLE]
    # The library stores naive UTC times.
    cutoff = now.astimezone(UTC).replace(tzinfo=None)

    async def purge(session: AsyncSession) -> int:
        result = await session.execute(delete(states).where(states.c.expire_at < cutoff))
        return int(result.rowcount)  # type: ignore[attr-defined]

    return await db.run(purge, changes=True)
