"""Aliases: short, case-insensitive names for applications, per channel or per workspace."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Alias, utcnow
from .errors import (
    AliasNotFound,
    ApplicationNotLinked,
    InvalidAlias,
    InvalidApplicationId,
    TargetMoved,
)
from .workspaces import ensure_workspace

MAX_ALIAS_LENGTH = 32
# The first character is a letter or digit so that an alias can never read as an option.
ALIAS_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
RESERVED_WORDS = frozenset(
    {"list", "link", "unlink", "token", "digest", "alert", "admins", "help", "audit"}
)


def normalize_alias(raw: str) -> str:
    """The stored form of an alias, or InvalidAlias saying what is wrong with `raw`."""
    name = raw.lower()
    if not name:
        raise InvalidAlias(raw, "an alias cannot be empty")
    if len(name) > MAX_ALIAS_LENGTH:
        raise InvalidAlias(raw, f"an alias is at most {MAX_ALIAS_LENGTH} characters")
    if not ALIAS_PATTERN.fullmatch(name):
        raise InvalidAlias(
            raw, "an alias uses only a-z, 0-9, dash, underscore and dot, and starts with a-z or 0-9"
        )
    if name in RESERVED_WORDS:
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
    session: AsyncSession,
    *,
    team_id: str,
    channel_id: str | None,
    name: str,
    application_id: str,
    user_id: str,
) -> str | None:
    """Point `name` at `application_id` in one scope; the application it pointed to before, if it
    pointed elsewhere."""
    await ensure_workspace(session, team_id)
    existing = await session.scalar(
        select(Alias).where(_scope(team_id, channel_id), Alias.name == name).with_for_update()
    )
    if existing is not None:
        previous = existing.application_id
        existing.application_id = application_id
        existing.created_by = user_id
        existing.created_at = utcnow()
        return previous if previous != application_id else None
    alias = Alias(
        team_id=team_id,
        channel_id=channel_id,
        name=name,
        application_id=application_id,
        created_by=user_id,
    )
    session.add(alias)
    await session.flush()
    return None


async def unlink(
    session: AsyncSession, *, team_id: str, channel_id: str, name: str, workspace: bool
) -> str:
    """Remove `name` from the channel (or workspace) scope; return the application it named."""
    target, other = (None, channel_id) if workspace else (channel_id, None)
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
    return removed


async def resolve(session: AsyncSession, *, team_id: str, channel_id: str, name: str) -> Alias:
    """The alias `name` as seen from `channel_id`: a channel alias shadows a workspace one."""
    candidates = (
        await session.scalars(
            select(Alias).where(_visible_from(team_id, channel_id), Alias.name == name)
        )
    ).all()
    if not candidates:
        raise AliasNotFound(name)
    return min(candidates, key=lambda alias: alias.is_workspace_wide)


async def visible_aliases(session: AsyncSession, *, team_id: str, channel_id: str) -> list[Alias]:
    """Every alias usable in `channel_id`, shadowed workspace aliases left out, by name."""
    rows = (await session.scalars(select(Alias).where(_visible_from(team_id, channel_id)))).all()
    chosen: dict[str, Alias] = {}
    for alias in sorted(rows, key=lambda alias: alias.is_workspace_wide):
        chosen.setdefault(alias.name, alias)
    return sorted(chosen.values(), key=lambda alias: alias.name)


async def is_linked_in_workspace(
    session: AsyncSession, *, team_id: str, application_id: str
) -> bool:
    """Whether any alias of the workspace, in any channel, points to `application_id`."""
    found = await session.scalar(
        select(Alias.id)
        .where(Alias.team_id == team_id, Alias.application_id == application_id)
        .limit(1)
    )
    return found is not None


async def check_card_target(
    session: AsyncSession,
    *,
    team_id: str,
    channel_id: str,
    alias: str | None,
    application_id: str,
) -> None:
    """A card's target, re-checked against the acting workspace: button values are not trusted."""
    if alias is not None:
        found = await resolve(session, team_id=team_id, channel_id=channel_id, name=alias)
        if found.application_id != application_id:
            raise TargetMoved(alias)
    elif not await is_linked_in_workspace(session, team_id=team_id, application_id=application_id):
        raise ApplicationNotLinked(application_id)
