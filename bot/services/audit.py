"""The audit trail: one row per attempt to change something, whatever its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import AuditEvent


async def record(
    session: AsyncSession,
    *,
    team_id: str,
    user_id: str,
    action: str,
    outcome: str,
    alias: str | None = None,
    application_id: str | None = None,
    before: str | None = None,
    requested: str | None = None,
    after: str | None = None,
    trace_id: str | None = None,
    detail: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        team_id=team_id,
        user_id=user_id,
        action=action,
        outcome=outcome,
        alias=alias,
        application_id=application_id,
        before=before,
        requested=requested,
        after=after,
        trace_id=trace_id,
        detail=detail,
    )
    session.add(event)
    await session.flush()
    return event


async def record_alone(db: Database, **fields: str | None) -> None:
    """One audit row in a transaction of its own (`record`'s fields)."""

    async def write(session: AsyncSession) -> None:
        await record(session, **fields)  # type: ignore[arg-type]

    await db.run(write)


@dataclass(frozen=True)
class AuditEntry:
    """One audit event as the rest of the bot sees it."""

    created_at: datetime
    user_id: str
    action: str
    outcome: str
    alias: str | None
    application_id: str | None
    before: str | None
    requested: str | None
    after: str | None
    trace_id: str | None
    detail: str | None


async def recent(
    db: Database, *, team_id: str, alias: str | None = None, limit: int = 20
) -> list[AuditEntry]:
    """The newest events of a workspace (optionally of one alias), newest first."""
    query = select(AuditEvent).where(AuditEvent.team_id == team_id)
    if alias is not None:
        query = query.where(AuditEvent.alias == alias)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)

    async def read(session: AsyncSession) -> list[AuditEntry]:
        return [
            AuditEntry(**{name: getattr(event, name) for name in AuditEntry.__dataclass_fields__})
            for event in (await session.scalars(query)).all()
        ]

    return await db.run(read)
