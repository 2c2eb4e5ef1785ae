"""Aliases: short, case-insensitive names for applications, per channel or per workspace."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Row, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import Alias, Workspace, utcnow
from . import audit
from .errors import (
    AliasNotFound,
    ApplicationNotLinked,
    InvalidAlias,
    InvalidApplicationId,
    TargetMoved,
)
from .workspaces import choose_token, ensure_workspace

MAX_ALIAS_LENGTH = 32
# The first character is a letter or digit so that an alias can never read as an option.
ALIAS_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
RESERVED_WORDS = frozenset(
    {
        "list",
        "link",
        "unlink",
        "token",
        "digest",
        "alert",
        "admins",
        "help",
        "audit",
        "usage",
        "keys",
        "policy",
    }
)


def normalize_alias(raw: str, *, new: bool = False) -> str:
    """The stored form of an alias, or InvalidAlias saying what is wrong with `raw`. A `new`
    alias (one being linked) cannot be a sub-command word; one linked before a word became a
    sub-command can still be named, so it can be unlinked and its buttons keep working."""
    name = raw.lower()
    if not name:
        raise InvalidAlias(raw, "an alias cannot be empty")
    if len(name) > MAX_ALIAS_LENGTH:
        raise InvalidAlias(raw, f"an alias is at most {MAX_ALIAS_LENGTH} characters")
    if not ALIAS_PATTERN.fullmatch(name):
        raise InvalidAlias(
            raw, "an alias uses only a-z, 0-9, dash, underscore and dot, and starts with a-z or 0-9"
        )
    if new and name in RESERVED_WORDS:
        raise InvalidAlias(raw, f"`{name}` is a /quota sub-command and cannot be an alias")
    return name


def normalize_application_id(raw: str) -> str:
    """The canonical (lower-case, hyphenated) form of an application UUID."""
    if len(raw) != 36:
        raise InvalidApplicationId(raw)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidApplicationId(raw) from None


def looks_like_application_id(raw: str) -> bool:
    """True for text meant as a UUID (long, letters and digits in dashed groups), valid or not."""
    return len(raw) > MAX_ALIAS_LENGTH and raw.count("-") >= 3 and raw.replace("-", "").isalnum()


def _visible_from(team_id: str, channel_id: str) -> ColumnElement[bool]:
    """The aliases usable in `channel_id`: its own and the workspace-wide ones."""
    return (Alias.team_id == team_id) & (
        (Alias.channel_id == channel_id) | Alias.channel_id.is_(None)
    )


def _scope(team_id: str, channel_id: str | None) -> ColumnElement[bool]:
    """The aliases of one channel, or (channel_id None) the workspace-wide ones."""
    clause = Alias.team_id == team_id
    if channel_id is None:
        return clause & Alias.channel_id.is_(None)
    return clause & (Alias.channel_id == channel_id)


async def link(
    db: Database,
    *,
    team_id: str,
    channel_id: str | None,
    name: str,
    application_id: str,
    user_id: str,
) -> str | None:
    """Point `name` at `application_id` in one scope (channel_id None: the workspace), with its
    audit row; the application it pointed to before, if it pointed elsewhere."""
    try:
        return await _link_once(db, team_id, channel_id, name, application_id, user_id)
    except IntegrityError:
        # Somebody linked the same new alias at the same moment: theirs exists now, so this
        # second attempt replaces it like any re-link.
        return await _link_once(db, team_id, channel_id, name, application_id, user_id)


async def _link_once(
    db: Database,
    team_id: str,
    channel_id: str | None,
    name: str,
    application_id: str,
    user_id: str,
) -> str | None:

    async def save(session: AsyncSession) -> str | None:
        await ensure_workspace(session, db, team_id)
        existing = await session.scalar(
            select(Alias).where(_scope(team_id, channel_id), Alias.name == name).with_for_update()
        )
        previous = None
        if existing is None:
            session.add(
                Alias(
                    team_id=team_id,
                    channel_id=channel_id,
                    name=name,
                    application_id=application_id,
                    created_by=user_id,
                )
            )
            await session.flush()
        else:
            if existing.application_id != application_id:
                previous = existing.application_id
            existing.application_id = application_id
            existing.created_by = user_id
            existing.created_at = utcnow()
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action="alias_linked",
            outcome="changed",
            alias=name,
            application_id=application_id,
            before=previous,
            after=application_id,
            detail="workspace" if channel_id is None else f"channel {channel_id}",
        )
        return previous

    return await db.run(save, changes=True)


async def unlink(
    db: Database, *, team_id: str, channel_id: str, name: str, workspace: bool, user_id: str
) -> str:
    """Remove `name` from the channel (or workspace) scope, with its audit row; return the
    application it named."""
    target, other = (None, channel_id) if workspace else (channel_id, None)

    async def remove(session: AsyncSession) -> str:
        removed = await session.scalar(
            delete(Alias)
            .where(_scope(team_id, target), Alias.name == name)
            .returning(Alias.application_id)
        )
        if removed is None:
            in_other_scope = await session.scalar(
                select(Alias.id).where(_scope(team_id, other), Alias.name == name)
            )
            raise AliasNotFound(name, workspace=workspace, other_scope=in_other_scope is not None)
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action="alias_unlinked",
            outcome="changed",
            alias=name,
            application_id=removed,
            before=removed,
            detail="workspace" if workspace else f"channel {channel_id}",
        )
        return removed

    return await db.run(remove, changes=True)


@dataclass(frozen=True)
class LinkedAlias:
    """An alias as the rest of the bot sees it."""

    name: str
    application_id: str
    channel_id: str | None

    @property
    def is_workspace_wide(self) -> bool:
        return self.channel_id is None


async def _read(db: Database, where: ColumnElement[bool]) -> list[LinkedAlias]:
    query = select(Alias.name, Alias.application_id, Alias.channel_id).where(where)

    async def read(session: AsyncSession) -> list[LinkedAlias]:
        return [LinkedAlias(*row) for row in (await session.execute(query)).all()]

    return await db.run(read)


async def resolve(db: Database, *, team_id: str, channel_id: str | None, name: str) -> LinkedAlias:
    """The alias `name` as seen from `channel_id`: a channel alias shadows a workspace one.
    Without a channel (a workflow step given none), the workspace-wide aliases only."""
    where = _scope(team_id, None) if channel_id is None else _visible_from(team_id, channel_id)
    candidates = await _read(db, where & (Alias.name == name))
    if not candidates:
        raise AliasNotFound(name)
    return min(candidates, key=lambda alias: alias.is_workspace_wide)


async def resolve_with_token(
    db: Database, *, team_id: str, channel_id: str, name: str, fallback: str | None
) -> tuple[LinkedAlias, str]:
    """`resolve` and the workspace's token (`workspaces.platform_token`) in one query: the
    path of every `/quota <alias>`."""
    query = (
        select(
            Alias.name,
            Alias.application_id,
            Alias.channel_id,
            Workspace.acedata_token,
            Workspace.acedata_token.is_not(None),
        )
        .join(Workspace, Workspace.team_id == Alias.team_id)
        .where(_visible_from(team_id, channel_id), Alias.name == name)
    )

    async def read(
        session: AsyncSession,
    ) -> list[Row[tuple[str, str, str | None, str | None, bool]]]:
        return list((await session.execute(query)).all())

    rows = await db.run(read)
    if not rows:
        raise AliasNotFound(name)
    name_, application_id, channel, token, stored = min(rows, key=lambda row: row[2] is None)
    alias = LinkedAlias(name_, application_id, channel)
    return alias, choose_token(token, stored=bool(stored), fallback=fallback)


async def visible_aliases(db: Database, *, team_id: str, channel_id: str) -> list[LinkedAlias]:
    """Every alias usable in `channel_id`, shadowed workspace aliases left out, by name."""
    rows = await _read(db, _visible_from(team_id, channel_id))
    chosen: dict[str, LinkedAlias] = {}
    for alias in sorted(rows, key=lambda alias: alias.is_workspace_wide):
        chosen.setdefault(alias.name, alias)
    return sorted(chosen.values(), key=lambda alias: alias.name)


async def is_linked_in_workspace(db: Database, *, team_id: str, application_id: str) -> bool:
    """Whether any alias of the workspace, in any channel, points to `application_id`."""
    query = (
        select(Alias.id)
        .where(Alias.team_id == team_id, Alias.application_id == application_id)
        .limit(1)
    )

    async def read(session: AsyncSession) -> int | None:
        return await session.scalar(query)

    return await db.run(read) is not None


async def is_visible_in_channel(
    db: Database, *, team_id: str, channel_id: str, application_id: str
) -> bool:
    """Whether an alias usable in `channel_id` points to `application_id`: what `/quota` would
    show a member there."""
    visible = await visible_aliases(db, team_id=team_id, channel_id=channel_id)
    return any(alias.application_id == application_id for alias in visible)


async def check_card_target(
    db: Database,
    *,
    team_id: str,
    channel_id: str,
    alias: str | None,
    application_id: str,
) -> None:
    """A card's target, re-checked against the acting workspace: button values are not trusted."""
    if alias is not None:
        found = await resolve(db, team_id=team_id, channel_id=channel_id, name=alias)
        if found.application_id != application_id:
            raise TargetMoved(alias)
    elif not await is_linked_in_workspace(db, team_id=team_id, application_id=application_id):
        raise ApplicationNotLinked(application_id)
