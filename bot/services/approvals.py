"""Two-person approval: with the workspace's policy on, an admin's *Enable global fallback*
becomes a request that another admin approves or rejects before it expires.

A request is decided once: the decision is claimed with one conditional UPDATE (pending, not
expired, this workspace's; an approver who is not the requester), so two admins pressing at
once, or one from two clients, end with one decision and the other told what it was. Expiry is
claimed the same way by the worker. Requests live in the database: they survive restarts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.database import Database
from ..db.models import FallbackRequest as RequestRow
from ..db.models import Workspace
from . import audit
from .errors import ServiceError
from .fallback_timers import Duration
from .workspaces import ensure_workspace

POLICY_ACTION = "approval_policy"
DECISIONS = ("approved", "rejected")


@dataclass(frozen=True)
class PendingRequest:
    """A request as the bot sees it."""

    id: str
    team_id: str
    requester_id: str
    alias: str | None
    application_id: str
    duration: Duration
    channel_id: str
    thread_ts: str | None
    message_ts: str | None
    status: str
    decided_by: str | None
    expires_at: datetime
    function_execution_id: str | None = None
    function_token: str | None = field(default=None, repr=False)


class RequestNotDecided(ServiceError):
    """A decision that cannot be made; `reason` says why: unknown (not this workspace's or
    no such request), expired, decided (already, by `decided_by`: `status`), own (a requester
    approving their own request), waiting (another request for it is already waiting)."""

    def __init__(self, reason: str, request: PendingRequest | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request = request


def _pending(row: RequestRow) -> PendingRequest:
    return PendingRequest(
        id=row.id,
        team_id=row.team_id,
        requester_id=row.requester_id,
        alias=row.alias,
        application_id=row.application_id,
        duration=row.duration,  # type: ignore[arg-type]
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        message_ts=row.message_ts,
        status=row.status,
        decided_by=row.decided_by,
        expires_at=row.expires_at,
        function_execution_id=row.function_execution_id,
        function_token=row.function_token,
    )


async def approval_required(db: Database, team_id: str) -> bool:
    query = select(Workspace.approval_required).where(Workspace.team_id == team_id)

    async def read(session: AsyncSession) -> bool:
        return bool(await session.scalar(query))

    return await db.run(read)


async def set_approval_required(db: Database, *, team_id: str, user_id: str, on: bool) -> bool:
    """Set the policy; whether it changed. Audited either way."""

    async def write(session: AsyncSession) -> bool:
        await ensure_workspace(session, db, team_id)
        before = bool(
            await session.scalar(
                select(Workspace.approval_required).where(Workspace.team_id == team_id)
            )
        )
        await session.execute(
            update(Workspace).where(Workspace.team_id == team_id).values(approval_required=on)
        )
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action=POLICY_ACTION,
            outcome="changed" if before != on else "unchanged",
            before="on" if before else "off",
            requested="on" if on else "off",
            after="on" if on else "off",
        )
        return before != on

    return await db.run(write, changes=True)


@dataclass(frozen=True)
class NewRequest:
    team_id: str
    requester_id: str
    alias: str | None
    application_id: str
    duration: Duration
    channel_id: str
    thread_ts: str | None
    function_execution_id: str | None = None
    function_token: str | None = field(default=None, repr=False)


async def create_request(
    db: Database, new: NewRequest, *, now: datetime, ttl: timedelta
) -> PendingRequest:
    """A pending request, unless one for the same application is already waiting
    (RequestNotDecided "waiting", naming it)."""

    async def write(session: AsyncSession) -> PendingRequest:
        waiting = await session.scalar(
            select(RequestRow).where(
                RequestRow.team_id == new.team_id,
                RequestRow.application_id == new.application_id,
                RequestRow.status == "pending",
                RequestRow.expires_at > now,
            )
        )
        if waiting is not None:
            raise RequestNotDecided("waiting", _pending(waiting))
        row = RequestRow(
            id=uuid.uuid4().hex,
            status="pending",
            created_at=now,
            expires_at=now + ttl,
            **new.__dict__,
        )
        session.add(row)
        await session.flush()
        await audit.record(
            session,
            team_id=new.team_id,
            user_id=new.requester_id,
            action="fallback_request",
            outcome="requested",
            alias=new.alias,
            application_id=new.application_id,
            requested="on",
            detail=f"for {new.duration}",
        )
        return _pending(row)

    return await db.run(write, changes=True)


async def _update(db: Database, *where: ColumnElement[bool], **values: object) -> None:
    """One request's row changed, in a transaction of its own."""
    statement = update(RequestRow).where(*where).values(**values)

    async def write(session: AsyncSession) -> None:
        await session.execute(statement)

    await db.run(write)


async def set_message(db: Database, request_id: str, message_ts: str) -> None:
    """Where the request was posted, so that its message can be updated once decided."""
    await _update(db, RequestRow.id == request_id, message_ts=message_ts)


async def withdraw(db: Database, request_id: str) -> None:
    """A request whose message could not be posted: nobody can approve it, so it is no more."""
    await _update(
        db,
        RequestRow.id == request_id,
        RequestRow.status == "pending",
        status="withdrawn",
        function_token=None,
    )


async def decide(
    db: Database, *, request_id: str, team_id: str, user_id: str, approve: bool, now: datetime
) -> PendingRequest:
    """Claim the decision on a request for `user_id` (an admin of `team_id`): the request as
    decided, or RequestNotDecided saying why not. The requester may reject (withdraw) their own
    request, never approve it."""
    status = "approved" if approve else "rejected"
    conditions = [
        RequestRow.id == request_id,
        RequestRow.team_id == team_id,
        RequestRow.status == "pending",
        RequestRow.expires_at > now,
    ]
    if approve:
        conditions.append(RequestRow.requester_id != user_id)
    statement = (
        update(RequestRow)
        .where(*conditions)
        .values(status=status, decided_by=user_id, decided_at=now)
        .returning(RequestRow.id)
    )

    async def write(session: AsyncSession) -> PendingRequest:
        claimed = await session.scalar(statement)
        row = await session.scalar(
            select(RequestRow).where(RequestRow.id == request_id, RequestRow.team_id == team_id)
        )
        if row is None:
            raise RequestNotDecided("unknown")
        found = _pending(row)
        if claimed is not None:
            await audit.record(
                session,
                team_id=team_id,
                user_id=user_id,
                action="fallback_request",
                outcome=status,
                alias=row.alias,
                application_id=row.application_id,
                requested="on",
                detail=f"requested by {row.requester_id}",
            )
            return found
        raise RequestNotDecided(_why_not(found, user_id, now), found)

    return await db.run(write, changes=True)


def _why_not(request: PendingRequest, user_id: str, now: datetime) -> str:
    if request.status == "pending" and request.expires_at <= now:
        return "expired"
    if request.status != "pending":
        return "expired" if request.status == "expired" else "decided"
    return "own" if request.requester_id == user_id else "decided"


async def claim_expired(db: Database, *, now: datetime) -> list[PendingRequest]:
    """The pending requests whose time is up, each now expired: claimed once across workers."""
    query = (
        select(RequestRow.id)
        .where(RequestRow.status == "pending", RequestRow.expires_at <= now)
        .limit(100)
    )

    async def write(session: AsyncSession) -> list[PendingRequest]:
        expired = []
        for request_id in (await session.scalars(query)).all():
            claimed = await session.scalar(
                update(RequestRow)
                .where(RequestRow.id == request_id, RequestRow.status == "pending")
                .values(status="expired", decided_at=now)
                .returning(RequestRow.id)
            )
            if claimed is not None:
                row = await session.get(RequestRow, request_id)
                assert row is not None
                expired.append(_pending(row))
        return expired

    return await db.run(write)


async def mark_failed(db: Database, request_id: str) -> None:
    """An approved request whose switch could not be made."""
    await _update(db, RequestRow.id == request_id, status="failed")


async def forget_function_token(db: Database, request_id: str) -> None:
    """The workflow step is completed: its token is of no more use and is not kept."""
    await _update(db, RequestRow.id == request_id, function_token=None)


async def pending_requests(db: Database, team_id: str, *, now: datetime) -> list[PendingRequest]:
    """The workspace's requests waiting for a second admin (for the App Home)."""
    query = (
        select(RequestRow)
        .where(
            RequestRow.team_id == team_id,
            RequestRow.status == "pending",
            RequestRow.expires_at > now,
        )
        .order_by(RequestRow.expires_at)
        .limit(20)
    )

    async def read(session: AsyncSession) -> list[PendingRequest]:
        return [_pending(row) for row in (await session.scalars(query)).all()]

    return await db.run(read)
