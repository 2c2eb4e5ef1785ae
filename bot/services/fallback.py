"""Switching an application's global-balance fallback: explicit target state, serialized, audited.

Every attempt becomes one audit row. The change is made under a per-application lock so that
two admins (or one double click) end in the requested state with a single "changed" row: the
second attempt finds the state already as requested and records "unchanged".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ..acedata import AceDataClient, AceDataError
from ..db.database import Database, DatabaseUnavailable
from ..db.models import utcnow
from . import audit
from .fallback_timers import Timer, Where, replace_timer, still_claimed
from .locks import LockBusy, application_lock
from .quota import QuotaSnapshot, read_quota, with_history

logger = logging.getLogger(__name__)

ACTION = "fallback"


def on_off(value: bool | None) -> str | None:
    return None if value is None else ("on" if value else "off")


@dataclass(frozen=True)
class TimerChange:
    """What a person's switch does to the application's timer: on until `off_at` (None: until
    turned off), said in `where` when it goes back off."""

    off_at: datetime | None
    where: Where
    approved_by: str | None = None


@dataclass(frozen=True)
class FallbackRequest:
    team_id: str
    user_id: str
    alias: str | None
    application_id: str
    enable: bool
    # A person's switch replaces the timer; a worker's switch back names the timer it claimed
    # (and does nothing if a person has replaced it since).
    timer: TimerChange | None = None
    switch_back: Timer | None = None


@dataclass(frozen=True)
class FallbackResult:
    """`outcome` is changed, unchanged (it already was), mismatch, or failed; `uncertain` when a
    failed change may still have been applied and the state could not be read back."""

    outcome: str
    before: bool | None
    after: bool | None
    snapshot: QuotaSnapshot | None
    error: AceDataError | None = None
    uncertain: bool = False
    audit_missing: bool = False
    # The fallback is on, but the time to switch it back off could not be saved.
    timer_missing: bool = False


async def record_attempt(
    db: Database,
    request: FallbackRequest,
    *,
    outcome: str,
    before: bool | None = None,
    after: bool | None = None,
    error: AceDataError | None = None,
    detail: str | None = None,
) -> None:
    await audit.record_alone(
        db,
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


async def record_unreadable_button(db: Database, *, team_id: str, user_id: str) -> None:
    """A switch press whose button value could not be read: refused, and audited as such."""
    await audit.record_alone(
        db,
        team_id=team_id,
        user_id=user_id,
        action=ACTION,
        outcome="refused",
        detail="unreadable button value",
    )


async def set_global_fallback(
    client: AceDataClient,
    db: Database,
    token: str,
    request: FallbackRequest,
    *,
    deadline: float,
    lock_wait: float,
) -> FallbackResult:
    try:
        async with application_lock(
            db, team_id=request.team_id, application_id=request.application_id, wait=lock_wait
        ):
            if request.switch_back is not None and not await _still_claimed(db, request):
                return FallbackResult("cancelled", None, None, None)
            result = await _change(client, token, request, deadline=deadline)
            if request.timer is not None and result.outcome in ("changed", "unchanged"):
                result = await _save_timer(db, request, request.timer, result)
            if result.snapshot is not None:
                result = replace(
                    result, snapshot=await with_history(db, request.team_id, result.snapshot)
                )
            try:
                await record_attempt(
                    db,
                    request,
                    outcome=result.outcome,
                    before=result.before,
                    after=result.after,
                    error=result.error,
                    detail=_detail(request),
                )
            except DatabaseUnavailable as exc:
                logger.error(
                    "Fallback switch for team=%s application=%s ended %s but was not audited: %s",
                    request.team_id,
                    request.application_id,
                    result.outcome,
                    exc,
                )
                result = replace(result, audit_missing=True)
            return result
    except LockBusy:
        await record_attempt(db, request, outcome="busy", detail="another change in flight")
        raise


def _detail(request: FallbackRequest) -> str | None:
    """Who else had a hand in the change, and for how long it was made."""
    if request.switch_back is not None:
        return f"timer set by {request.switch_back.set_by} ran out"
    parts = []
    if request.timer is not None and request.timer.approved_by is not None:
        parts.append(f"approved by {request.timer.approved_by}")
    if request.enable and request.timer is not None and request.timer.off_at is not None:
        parts.append(f"until {request.timer.off_at.isoformat(timespec='minutes')}")
    return "; ".join(parts) or None


async def _still_claimed(db: Database, request: FallbackRequest) -> bool:
    assert request.switch_back is not None
    timer = request.switch_back

    async def read(session: AsyncSession) -> bool:
        return await still_claimed(session, timer)

    return await db.run(read)


async def _save_timer(
    db: Database, request: FallbackRequest, timer: TimerChange, result: FallbackResult
) -> FallbackResult:
    """The person's change is made: their timer replaces the application's."""

    async def write(session: AsyncSession) -> None:
        await replace_timer(
            session,
            db,
            team_id=request.team_id,
            application_id=request.application_id,
            off_at=timer.off_at if request.enable else None,
            where=timer.where,
            set_by=request.user_id,
            approved_by=timer.approved_by,
        )

    try:
        await db.run(write)
    except DatabaseUnavailable as exc:
        logger.error(
            "Fallback timer for team=%s application=%s not saved: %s",
            request.team_id,
            request.application_id,
            exc,
        )
        return replace(result, timer_missing=request.enable and timer.off_at is not None)
    return result


async def _change(
    client: AceDataClient, token: str, request: FallbackRequest, *, deadline: float
) -> FallbackResult:
    try:
        current = await read_quota(
            client, token, request.application_id, deadline=deadline, shared=False
        )
    except AceDataError as exc:
        return FallbackResult("failed", None, None, None, exc)
    before = current.application.allow_consume_global
    if before == request.enable:
        return FallbackResult("unchanged", before, before, current)
    send_error: AceDataError | None = None
    posted = None
    try:
        posted = await client.set_allow_consume_global(
            token, request.application_id, request.enable
        )
    except AceDataError as exc:
        logger.warning("Fallback change failed for %s: %s", request.application_id, exc)
        if exc.refused:
            return FallbackResult("failed", before, None, current, exc)
        send_error = exc  # a timeout or 5xx may still have been applied: read to find out
    try:
        confirmed = await client.get_application(token, request.application_id, deadline=deadline)
    except AceDataError as exc:
        if posted is None:
            return FallbackResult(
                "failed", before, None, current, send_error or exc, uncertain=True
            )
        logger.warning("Re-read after the fallback change failed, using the POST answer: %s", exc)
        confirmed = posted
    after = confirmed.allow_consume_global
    snapshot = replace(current, application=confirmed, as_of=utcnow())
    if after == request.enable:
        return FallbackResult("changed", before, after, snapshot)
    if send_error is not None:
        return FallbackResult("failed", before, after, current, send_error)
    return FallbackResult("mismatch", before, after, snapshot)
