"""Low-quota alerts: set, remove, list, snooze, and the checks the scheduler claims.

A check is claimed by moving the alert's `next_check_at` on in the same transaction that reads
it (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never check one alert at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics
from ..acedata import AceDataError, InvalidToken
from ..db.database import Database, DatabaseUnavailable
from ..db.models import QuotaAlert
from . import aliases, watches
from .alert_levels import (
    AlertState,
    Decision,
    Level,
    Reading,
    Threshold,
    decide,
    level_of,
    snooze,
)
from .delivery import Posted, pause_reason, tell_who_set_it
from .errors import AliasNotFound, NoTokenConfigured
from .quota import QuotaSnapshot
from .rounds import Round
from .watches import PAUSE_AFTER

logger = logging.getLogger(__name__)

SNOOZE_CHOICES: dict[str, float | None] = {"1h": 1, "1d": 24, "recovered": None}


@dataclass(frozen=True)
class Outage:
    """Since when the quota has been out, the message that said so (updated in place with the
    calls that failed since) and the count it shows."""

    since: datetime
    ts: str | None
    failed_calls: int | None = None


@dataclass(frozen=True)
class Watch:
    """One alert as the rest of the bot sees it."""

    id: int
    team_id: str
    channel_id: str
    alias: str
    threshold: Threshold
    state: AlertState
    created_by: str
    last_checked_at: datetime | None
    paused_reason: str | None = None
    failures: int = 0
    out: Outage | None = None


def watch_of(row: QuotaAlert) -> Watch:
    return Watch(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        alias=row.alias,
        threshold=Threshold(row.threshold_kind, Decimal(row.threshold)),  # type: ignore[arg-type]
        state=AlertState(
            said=Level(row.said),
            snoozed_until=row.snoozed_until,
            snoozed_at=None if row.snoozed_at is None else Level(row.snoozed_at),
            until_recovered=row.until_recovered,
            last_remaining=None if row.last_remaining is None else Decimal(row.last_remaining),
        ),
        created_by=row.created_by,
        last_checked_at=row.last_checked_at,
        paused_reason=row.paused_reason,
        failures=row.failures or 0,
        out=None
        if row.out_since is None
        else Outage(row.out_since, row.out_ts, row.out_failed_calls),
    )


def _state_values(state: AlertState) -> dict[str, object]:
    return {
        "said": int(state.said),
        "snoozed_until": state.snoozed_until,
        "snoozed_at": None if state.snoozed_at is None else int(state.snoozed_at),
        "until_recovered": state.until_recovered,
        "last_remaining": None if state.last_remaining is None else str(state.last_remaining),
    }


async def set_alert(
    db: Database,
    *,
    team_id: str,
    channel_id: str,
    alias: str,
    threshold: Threshold,
    now: datetime,
    user_id: str,
) -> None:
    """Watch `alias` in the channel (audited); a new threshold starts the alert afresh."""
    values = {
        "threshold_kind": threshold.kind,
        "threshold": str(threshold.value),
        "next_check_at": now,
        "paused_reason": None,
        "failures": 0,
        "created_by": user_id,
        "out_since": None,
        "out_ts": None,
        "out_failed_calls": None,
        **_state_values(AlertState()),
    }

    await watches.save_watch(
        db,
        QuotaAlert,
        team_id=team_id,
        channel_id=channel_id,
        alias=alias,
        values=values,
        now=now,
        user_id=user_id,
        action="alert_set",
        after=f"{threshold.value}{'%' if threshold.kind == 'percent' else ''}",
    )


async def remove_alert(
    db: Database, *, team_id: str, channel_id: str, alias: str, user_id: str
) -> bool:
    """Stop watching `alias` in the channel (audited); False if it was not watched."""
    return await watches.remove_watch(
        db,
        QuotaAlert,
        team_id=team_id,
        channel_id=channel_id,
        alias=alias,
        user_id=user_id,
        action="alert_off",
    )


async def channel_alerts(db: Database, *, team_id: str, channel_id: str) -> list[Watch]:
    query = (
        select(QuotaAlert)
        .where(QuotaAlert.team_id == team_id, QuotaAlert.channel_id == channel_id)
        .order_by(QuotaAlert.alias)
    )

    async def read(session: AsyncSession) -> list[Watch]:
        return [watch_of(row) for row in (await session.scalars(query)).all()]

    return await db.run(read)


async def claim_due(
    db: Database, *, now: datetime, every: timedelta, limit: int = 500
) -> list[Watch]:
    """The alerts due for a check at `now`, each moved on by `every` so no one else takes it."""

    async def claim(session: AsyncSession) -> list[Watch]:
        rows = await watches.claim_rows(session, db, QuotaAlert, now=now, every=every, limit=limit)
        return [watch_of(row) for row in rows]

    return await db.run(claim)


async def save_state(
    db: Database, watch: Watch, state: AlertState, *, paused_reason: str | None = None
) -> None:
    """What the channel was told, after a check. Only what the check changed is written, and
    only if the alert was not set anew meanwhile: a Snooze pressed during the check stands.
    `paused_reason` pauses it; a pause made meanwhile (an uninstall) is never lifted here."""
    before, after = _state_values(watch.state), _state_values(state)
    changed: dict[str, object] = {
        name: value for name, value in after.items() if value != before[name]
    }
    if paused_reason is not None:
        changed["paused_reason"] = func.coalesce(QuotaAlert.paused_reason, paused_reason)
    elif watch.failures:
        changed["failures"] = 0  # checked again: the count of failed rounds starts over
    if not changed:
        return
    statement = (
        update(QuotaAlert)
        .where(
            QuotaAlert.id == watch.id,
            QuotaAlert.threshold_kind == watch.threshold.kind,
            QuotaAlert.threshold == str(watch.threshold.value),
            QuotaAlert.created_by == watch.created_by,
        )
        .values(**changed)
    )

    async def write(session: AsyncSession) -> None:
        await session.execute(statement)

    await db.run(write)


async def save_outage(db: Database, watch: Watch, out: Outage | None) -> None:
    """Since when the quota is out and the message that said so (None: it is back), if the
    alert was not set anew meanwhile."""
    statement = (
        update(QuotaAlert)
        .where(
            QuotaAlert.id == watch.id,
            QuotaAlert.threshold_kind == watch.threshold.kind,
            QuotaAlert.threshold == str(watch.threshold.value),
            QuotaAlert.created_by == watch.created_by,
        )
        .values(
            out_since=None if out is None else out.since,
            out_ts=None if out is None else out.ts,
            out_failed_calls=None if out is None else out.failed_calls,
        )
    )

    async def write(session: AsyncSession) -> None:
        await session.execute(statement)

    await db.run(write)


async def snooze_alert(
    db: Database, *, team_id: str, channel_id: str, alias: str, choice: str, now: datetime
) -> Watch | None:
    """Snooze the channel's alert on `alias` (`SNOOZE_CHOICES`); None if there is none."""

    async def write(session: AsyncSession) -> Watch | None:
        row = await session.scalar(
            select(QuotaAlert)
            .where(
                QuotaAlert.team_id == team_id,
                QuotaAlert.channel_id == channel_id,
                QuotaAlert.alias == alias,
            )
            .with_for_update()
        )
        if row is None:
            return None
        quiet = snooze(watch_of(row).state, now=now, hours=SNOOZE_CHOICES[choice])
        for name, value in _state_values(quiet).items():
            setattr(row, name, value)
        await session.flush()
        return watch_of(row)

    return await db.run(write, changes=True)


@dataclass(frozen=True)
class Check:
    """A watched alias read and judged: what to tell the channel, and the state to keep once
    it has been told."""

    watch: Watch
    snapshot: QuotaSnapshot
    decision: Decision
    level: Level = Level.OK  # what the quota is now, whatever the channel was told


@dataclass(frozen=True)
class Impact:
    """What running out has cost so far: calls failed since it ran out."""

    failed_calls: int
    since: datetime


class CheckSkipped(Exception):
    """The alias could not be read this time (gone, no token, upstream or database trouble);
    its state stays as it was, to be tried next time. `lasting` names a reason no retry fixes
    by itself (ALIAS_GONE, NO_TOKEN, TOKEN_REJECTED)."""

    def __init__(self, detail: str, lasting: str | None = None) -> None:
        super().__init__(detail)
        self.lasting = lasting


ALIAS_GONE = "alias_gone"
NO_TOKEN = "no_token"
TOKEN_REJECTED = "token_rejected"
# Slack errors after which the "ran out" message can no longer be updated.
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


async def evaluate(
    db: Database,
    round_: Round,
    watch: Watch,
    *,
    token: str,
    now: datetime,
) -> Check:
    """Read the watched alias through `round_` and decide; CheckSkipped if it cannot be read."""
    try:
        alias = await aliases.resolve(
            db, team_id=watch.team_id, channel_id=watch.channel_id, name=watch.alias
        )
        snapshot = await round_.observe(watch.team_id, token, alias.application_id)
    except AliasNotFound:
        raise CheckSkipped("AliasNotFound", ALIAS_GONE) from None
    except InvalidToken:
        raise CheckSkipped("InvalidToken", TOKEN_REJECTED) from None
    except (AceDataError, DatabaseUnavailable) as exc:
        raise CheckSkipped(f"{type(exc).__name__}: {exc}") from None
    app = snapshot.application
    if not (app.remaining_amount.is_finite() and app.used_amount.is_finite()):
        raise CheckSkipped("unreadable amounts")
    global_empty = (
        snapshot.global_balance is not None and snapshot.global_balance.remaining_amount <= 0
    )
    reading = Reading(
        app.remaining_amount,
        app.used_amount,
        snapshot.forecast.runs_out_at if snapshot.forecast else None,
        calls_fail_when_out=app.allow_consume_global is not True or global_empty,
    )
    decision = decide(watch.state, reading, watch.threshold, now)
    return Check(watch, snapshot, decision, level_of(reading, watch.threshold, now))


# Posts what a check has to say (it got worse, or came back); what the post came to.
Notify = Callable[[Check], Awaitable[Posted]]
# Tells whoever set the alert that it stopped, with Slack's error.
TellWatcher = Callable[[Watch, str], Awaitable[None]]
# Updates the "ran out" message (its ts) in place with the impact; Slack's error, or None.
Update = Callable[[Check, str, Impact], Awaitable[str | None]]


async def check(
    db: Database,
    round_: Round,
    watch: Watch,
    notify: Notify,
    *,
    token: Callable[[str], Awaitable[str]],
    tell: TellWatcher,
    now: datetime,
    update: Update | None = None,
) -> Check | None:
    """Read the watched alias, decide, and tell the channel if it got worse (or came back); the
    state is saved only once the channel was told, so a check that cannot read or post leaves
    it as it was, to be tried next time. A channel Slack refuses pauses the alert. While the
    quota stays out, the message that said so is updated (`update`) with the calls failed
    since. The check made, or None when it was skipped."""
    where = f"team={watch.team_id} channel={watch.channel_id} alias={watch.alias}"
    try:
        token_ = await _token(token, watch)
        found = await evaluate(db, round_, watch, token=token_, now=now)
    except (CheckSkipped, DatabaseUnavailable) as exc:
        logger.warning("Alert check %s skipped: %s", where, exc)
        lasting = exc.lasting if isinstance(exc, CheckSkipped) else None
        if lasting is not None and await watches.failed_again(db, QuotaAlert, watch.id, lasting):
            logger.warning("Alert %s paused after %d rounds: %s", where, PAUSE_AFTER, lasting)
            await tell(watch, lasting)
        return None
    decision = found.decision
    posted: Posted | None = None
    if decision.post is not None or decision.recovered:
        posted = await notify(found)
        if posted.error is not None:
            logger.warning("Alert %s not posted: %s", where, posted.error)
            metrics.ALERTS_FAILED.labels("quota").inc()
            reason = pause_reason(posted.error)
            if reason is not None:
                await save_state(db, watch, watch.state, paused_reason=reason)
            if tell_who_set_it(posted.error):
                await tell(watch, posted.error)
            return found
        told = decision.post.name.lower() if decision.post is not None else "recovered"
        logger.info("Alert %s: told the channel (%s)", where, told)
        metrics.ALERTS.labels("quota", told).inc()
    await save_state(db, watch, decision.state)
    try:
        await _follow_outage(db, round_, found, posted, token=token_, update=update)
    except (AceDataError, DatabaseUnavailable) as exc:
        logger.warning("Alert %s: the failed calls since it ran out not shown: %s", where, exc)
    return found


async def _follow_outage(
    db: Database,
    round_: Round,
    found: Check,
    posted: Posted | None,
    *,
    token: str,
    update: Update | None,
) -> None:
    """Remember when the quota ran out and the message that said so; while it stays out,
    count the calls failed since and update that message when the count changed."""
    watch, out, snapshot = found.watch, found.watch.out, found.snapshot
    if snapshot.application.remaining_amount > 0:
        if out is not None:
            await save_outage(db, watch, None)
        return
    post = found.decision.post
    if posted is not None and posted.ts and post is not None and post >= Level.EXHAUSTED:
        since = out.since if out is not None else snapshot.as_of
        await save_outage(db, watch, Outage(since, posted.ts))
        return
    if out is None or out.ts is None or update is None:
        return
    failed = await round_.client.failed_calls(
        token, snapshot.application.id, since=out.since, until=snapshot.as_of
    )
    if failed == out.failed_calls:
        return
    error = await update(found, out.ts, Impact(failed, out.since))
    if error is not None:
        logger.warning("Alert message %s of %s not updated: %s", out.ts, watch.alias, error)
        if error in MESSAGE_GONE:  # nothing left to update: stop trying
            await save_outage(db, watch, Outage(out.since, None))
        return
    await save_outage(db, watch, Outage(out.since, out.ts, failed))


async def _token(token: Callable[[str], Awaitable[str]], watch: Watch) -> str:
    try:
        return await token(watch.team_id)
    except NoTokenConfigured:
        raise CheckSkipped("NoTokenConfigured", NO_TOKEN) from None
