"""The audit trail: one row per attempt to change something, whatever its outcome."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

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
