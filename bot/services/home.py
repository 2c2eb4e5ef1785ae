"""What the App Home shows. Admins: the workspace's token status (never the token), its aliases
with their quota, its digests and alerts, the bot admins and the recent audit. Members: the
workspace's aliases. Quotas are read through a `Round` (bounded overall and per token)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..acedata import AceDataClient, AceDataError
from ..db.database import Database
from ..db.models import Alias, DigestSchedule, QuotaAlert, Workspace, utcnow
from . import approvals, audit, fallback_timers, permissions
from .alerts import Watch, watch_of
from .aliases import LinkedAlias
from .approvals import PendingRequest
from .audit import AuditEntry
from .digests import DigestSetup, setup_of
from .errors import NoTokenConfigured, TokenUnreadable
from .fallback_timers import Timer
from .keys import PausedKey, paused_by_bot
from .quota import QuotaSnapshot
from .rounds import Round
from .usage import ApiShare, period_bounds, top_apis
from .workspaces import platform_token

logger = logging.getLogger(__name__)

# How long the Home waits for the aliases' top APIs of the week once their quotas are read:
# what is not read by then is left out.
TOP_API_SECONDS = 3.0

# Where the token that reads quotas comes from: the workspace's own, the operator's
# ACEDATA_PLATFORM_TOKEN, one stored that no current key opens, or none at all.
TokenSource = Literal["workspace", "operator", "unreadable", "none"]


@dataclass(frozen=True)
class TokenStatus:
    """What may be shown of the workspace's token: who it belongs to and its last four
    characters, never the token."""

    source: TokenSource
    account: str | None = None
    last4: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None


@dataclass(frozen=True)
class AliasReading:
    """One alias and its quota; `snapshot` None with `error` None: there was no token to read
    it with."""

    alias: LinkedAlias
    snapshot: QuotaSnapshot | None
    error: Exception | None
    top: ApiShare | None = None  # the API that cost most this week (None: none, or unknown)


@dataclass(frozen=True)
class HomeAlert:
    watch: Watch
    paused_reason: str | None


@dataclass(frozen=True)
class GuardRails:
    """The workspace's fallback guard rails: the approval policy, fallbacks on for a while,
    and requests waiting for a second admin."""

    approval_required: bool
    timers: list[Timer]
    waiting: list[PendingRequest]


@dataclass(frozen=True)
class AdminHome:
    token: TokenStatus
    aliases: list[LinkedAlias]  # every alias of the workspace, by name
    readings: list[AliasReading]  # the first of them (`read_limit`), read
    digests: list[DigestSetup]
    alerts: list[HomeAlert]
    admins: list[str]  # the listed bot admins (Slack's own admins are not listed)
    audit: list[AuditEntry]
    paused_keys: list[PausedKey] = field(default_factory=list)  # paused by the bot, not resumed
    guard: GuardRails | None = None

    @property
    def unread(self) -> list[LinkedAlias]:
        """The aliases beyond `readings`, not read."""
        return self.aliases[len(self.readings) :]


@dataclass(frozen=True)
class MemberHome:
    """A member sees the workspace-wide aliases; channel aliases (some in private channels)
    are counted, and each shows in its own channel's `/quota list`."""

    aliases: list[LinkedAlias]
    channel_aliases: int = 0


async def admin_home(
    db: Database,
    client: AceDataClient,
    *,
    team_id: str,
    fallback_token: str | None,
    read_limit: int,
    audit_limit: int = 10,
) -> AdminHome:
    """Everything an admin's Home shows; the quota of the first `read_limit` aliases is read
    (each failure kept with its alias). DatabaseUnavailable if the database cannot answer."""
    status, token = await token_status(db, team_id=team_id, fallback_token=fallback_token)
    linked = await workspace_aliases(db, team_id=team_id)
    digests = await workspace_digests(db, team_id=team_id)
    alerts = await workspace_alerts(db, team_id=team_id)
    admins = await permissions.listed_admins(db, team_id=team_id)
    events = await audit.recent(db, team_id=team_id, limit=audit_limit)
    paused = await paused_by_bot(db, team_id)
    guard = GuardRails(
        await approvals.approval_required(db, team_id),
        await fallback_timers.team_timers(db, team_id),
        await approvals.pending_requests(db, team_id, now=utcnow()),
    )
    round_ = Round(client, db)
    readings = await read_aliases(round_, team_id=team_id, token=token, aliases=linked[:read_limit])
    if token is not None:
        readings = await with_top_apis(round_, token, readings, now=utcnow())
    return AdminHome(status, linked, readings, digests, alerts, admins, events, paused, guard)


async def member_home(db: Database, *, team_id: str) -> MemberHome:
    linked = await workspace_aliases(db, team_id=team_id)
    wide = [alias for alias in linked if alias.is_workspace_wide]
    return MemberHome(wide, channel_aliases=len(linked) - len(wide))


async def token_status(
    db: Database, *, team_id: str, fallback_token: str | None
) -> tuple[TokenStatus, str | None]:
    """The token's status, and the token quotas are read with (None when there is none)."""
    query = select(
        Workspace.acedata_account,
        Workspace.acedata_token_last4,
        Workspace.token_set_by,
        Workspace.token_set_at,
        Workspace.acedata_token.is_not(None),
    ).where(Workspace.team_id == team_id)

    async def read(session: AsyncSession) -> TokenStatus | None:
        row = (await session.execute(query)).first()
        if row is None or not row[4]:
            return None
        return TokenStatus("workspace", account=row[0], last4=row[1], set_by=row[2], set_at=row[3])

    stored = await db.run(read)
    try:
        token = await platform_token(db, team_id, fallback_token)
    except TokenUnreadable:
        source: TokenSource = "unreadable"
        token = None
    except NoTokenConfigured:
        source, token = "none", None
    else:
        # The operator's token stands in for a stored one that no current key opens.
        own = stored is not None and (token != fallback_token or token[-4:] == stored.last4)
        source = "workspace" if own else "operator"
    if stored is None:
        return TokenStatus(source), token
    return replace(stored, source=source), token


async def workspace_aliases(db: Database, *, team_id: str) -> list[LinkedAlias]:
    """Every alias of the workspace, workspace-wide and per channel, by name (a workspace-wide
    one before the channel ones of the same name)."""
    query = (
        select(Alias.name, Alias.application_id, Alias.channel_id)
        .where(Alias.team_id == team_id)
        .order_by(Alias.name, Alias.channel_id.is_not(None), Alias.channel_id)
    )

    async def read(session: AsyncSession) -> list[LinkedAlias]:
        return [LinkedAlias(*row) for row in (await session.execute(query)).all()]

    return await db.run(read)


async def workspace_digests(db: Database, *, team_id: str) -> list[DigestSetup]:
    query = (
        select(DigestSchedule)
        .where(DigestSchedule.team_id == team_id)
        .order_by(DigestSchedule.channel_id)
    )

    async def read(session: AsyncSession) -> list[DigestSetup]:
        return [setup_of(row) for row in (await session.scalars(query)).all()]

    return await db.run(read)


async def workspace_alerts(db: Database, *, team_id: str) -> list[HomeAlert]:
    query = (
        select(QuotaAlert)
        .where(QuotaAlert.team_id == team_id)
        .order_by(QuotaAlert.alias, QuotaAlert.channel_id)
    )

    async def read(session: AsyncSession) -> list[HomeAlert]:
        rows = (await session.scalars(query)).all()
        return [HomeAlert(watch_of(row), row.paused_reason) for row in rows]

    return await db.run(read)


async def read_aliases(
    round_: Round, *, team_id: str, token: str | None, aliases: list[LinkedAlias]
) -> list[AliasReading]:
    """Each alias with its quota, read concurrently through `round_` (which bounds how many
    reads run at once); an alias that cannot be read keeps its error, the others are read."""

    async def read(alias: LinkedAlias) -> AliasReading:
        if token is None:
            return AliasReading(alias, None, None)
        try:
            snapshot = await round_.observe(team_id, token, alias.application_id)
        except AceDataError as exc:
            return AliasReading(alias, None, exc)
        except Exception as exc:  # anything else: this alias is unavailable, not the page
            logger.warning(
                "Home: %s (%s) unreadable team=%s: %s",
                alias.name,
                alias.application_id,
                team_id,
                type(exc).__name__,
            )
            return AliasReading(alias, None, exc)
        return AliasReading(alias, snapshot, None)

    return list(await asyncio.gather(*(read(alias) for alias in aliases)))


async def with_top_apis(
    round_: Round,
    token: str,
    readings: list[AliasReading],
    *,
    now: datetime,
    budget: float = TOP_API_SECONDS,
) -> list[AliasReading]:
    """The readable aliases with their top API over the last 7 UTC days, one aggregate read per
    application, all within `budget` seconds; an alias whose read fails or is late shows none."""
    week = period_bounds("7d", ZoneInfo("UTC"), now)
    wanted = {r.alias.application_id for r in readings if r.snapshot is not None}
    reads = {app_id: round_.usage(token, app_id, week, deadline=budget) for app_id in wanted}
    if not reads:
        return readings
    done, late = await asyncio.wait(reads.values(), timeout=budget)
    for task in late:
        task.cancel()
    tops: dict[str, ApiShare] = {}
    for app_id, task in reads.items():
        if task not in done:
            continue
        if task.exception() is not None:
            logger.info("Home: no top API for %s: %s", app_id, type(task.exception()).__name__)
            continue
        found = top_apis(task.result(), 1, week.days)
        if found:
            tops[app_id] = found[0]
    if late:
        logger.info("Home: %d top-API reads were late and left out", len(late))
    return [replace(r, top=tops.get(r.alias.application_id)) for r in readings]
