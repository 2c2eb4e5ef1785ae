"""Switching an application's global-balance fallback: explicit target state, serialized, audited.

Every attempt becomes one audit row. The change is made under a per-application lock so that
two admins (or one double click) end in the requested state with a single "changed" row: the
second attempt finds the state already as requested and records "unchanged".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..acedata import AceDataClient, AceDataError
from ..db.models import utcnow
from . import audit
from .locks import LockBusy, application_lock
from .quota import QuotaSnapshot, read_quota

logger = logging.getLogger(__name__)

LOCK_WAIT = 10.0
ACTION = "fallback"


def on_off(value: bool | None) -> str | None:
    return None if value is None else ("on" if value else "off")


@dataclass(frozen=True)
class FallbackRequest:
    team_id: str
    user_id: str
    alias: str | None
    application_id: str
    enable: bool


@dataclass(frozen=True)
class FallbackResult:
    """`outcome` is changed, unchanged (it already was), mismatch, failed, or busy."""

    outcome: str
    before: bool | None
    after: bool | None
    snapshot: QuotaSnapshot | None
    error: AceDataError | None = None
    sent: bool = False


async def record_attempt(
    sessions: async_sessionmaker[AsyncSession],
    request: FallbackRequest,
    *,
    outcome: str,
    before: bool | None = None,
    after: bool | None = None,
    error: AceDataError | None = None,
    detail: str | None = None,
) -> None:
    async with sessions() as session, session.begin():
        await audit.record(
            session,
            team_id=request.team_id,
            user_id=request.user_id,
            action=ACTION,
            outcome=outcome,
            alias=request.alias,
            application_id=request.application_id,
            before=on_off(before),
            requested=on_off(request.enable),
            after=on_off(after),
            trace_id=error.trace_id if error else None,
            detail=(str(error) if error else detail),
        )


async def set_global_fallback(
    client: AceDataClient,
    sessions: async_sessionmaker[AsyncSession],
    token: str,
    request: FallbackRequest,
    *,
    deadline: float,
) -> FallbackResult:
    try:
        async with application_lock(
            sessions, team_id=request.team_id, application_id=request.application_id, wait=LOCK_WAIT
        ):
            result = await _change(client, token, request, deadline=deadline)
            await record_attempt(
                sessions,
                request,
                outcome=result.outcome,
                before=result.before,
                after=result.after,
                error=result.error,
            )
            return result
    except LockBusy:
        await record_attempt(sessions, request, outcome="busy", detail="another change in flight")
        raise


async def _change(
    client: AceDataClient, token: str, request: FallbackRequest, *, deadline: float
) -> FallbackResult:
    try:
        current = await read_quota(client, token, request.application_id, deadline=deadline)
    except AceDataError as exc:
        return FallbackResult("failed", None, None, None, exc)
    before = current.application.allow_consume_global
    if before == request.enable:
        return FallbackResult("unchanged", before, before, current)
    try:
        posted = await client.set_allow_consume_global(
            token, request.application_id, request.enable
        )
    except AceDataError as exc:
        logger.warning("Fallback change failed for %s: %s", request.application_id, exc)
        return FallbackResult("failed", before, None, current, exc, sent=True)
    try:
        confirmed = await client.get_application(token, request.application_id, deadline=deadline)
    except AceDataError as exc:
        logger.warning("Re-read after the fallback change failed, using the POST answer: %s", exc)
        confirmed = posted
    after = confirmed.allow_consume_global
    outcome = "changed" if after == request.enable else "mismatch"
    snapshot = replace(current, application=confirmed, as_of=utcnow())
    return FallbackResult(outcome, before, after, snapshot, sent=True)
