"""Channel digests: their schedules, and claiming each due slot exactly once.

A slot is claimed by inserting its delivery row (unique per schedule and slot) in the same
transaction that moves the schedule on; on PostgreSQL due schedules are read with
`FOR UPDATE SKIP LOCKED`, so workers never wait on each other. A claim left unfinished by a
crashed worker is tried once more after its lease runs out. After downtime only the latest
missed slot is sent, marked late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, delete, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics
from ..acedata import AceDataError
from ..db.database import Database, DatabaseUnavailable
from ..db.models import DigestDelivery, DigestSchedule, utcnow
from . import aliases, audit, history
from .delivery import Posted, pause_reason, tell_who_set_it
from .errors import NoTokenConfigured
from .quota import QuotaSnapshot
from .rounds import Round
from .schedules import Schedule
from .usage import ApiShare, PeriodBounds, top_apis
from .workspaces import ensure_workspace

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
# A slot sent later than this after it was due says so.
LATE_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class DigestSetup:
    team_id: str
    channel_id: str
    schedule: Schedule
    next_run_at: datetime
    paused_reason: str | None
    created_by: str


@dataclass(frozen=True)
class LastDelivery:
    slot: datetime
    outcome: str
    slack_error: str | None
    late: bool


@dataclass(frozen=True)
class ClaimedSlot:
    delivery_id: int
    setup: DigestSetup
    slot: datetime
    late: bool
    attempt: int = 1


def schedule_of(row: DigestSchedule) -> Schedule:
    hour, minute = (int(part) for part in row.at_time.split(":"))
    return Schedule(row.kind, time(hour, minute), ZoneInfo(row.zone), row.weekday)  # type: ignore[arg-type]


def setup_of(row: DigestSchedule) -> DigestSetup:
    return DigestSetup(
        row.team_id,
        row.channel_id,
        schedule_of(row),
        row.next_run_at,
        row.paused_reason,
        row.created_by,
    )


async def set_schedule(
    db: Database,
    *,
    team_id: str,
    channel_id: str,
    schedule: Schedule,
    now: datetime,
    user_id: str,
) -> DigestSetup:
    """Create or replace the channel's digest (audited); its first run is the next slot."""
    next_run = schedule.next_run(now)
    values = {
        "kind": schedule.kind,
        "at_time": schedule.at.strftime("%H:%M"),
        "weekday": schedule.weekday,
        "zone": schedule.zone.key,
        "next_run_at": next_run,
        "paused_reason": None,
        "created_by": user_id,
    }

    async def save(session: AsyncSession) -> None:
        await ensure_workspace(session, db, team_id)
        await session.execute(
            db.insert()(DigestSchedule)
            .values(team_id=team_id, channel_id=channel_id, created_at=now, **values)
            .on_conflict_do_update(index_elements=["team_id", "channel_id"], set_=values)
        )
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action="digest_set",
            outcome="changed",
            after=schedule.describe()[:64],
            detail=f"channel {channel_id}",
        )

    await db.run(save, changes=True)
    return DigestSetup(team_id, channel_id, schedule, next_run, None, user_id)


async def remove_schedule(db: Database, *, team_id: str, channel_id: str, user_id: str) -> bool:
    """Stop the channel's digest (audited); False if it had none."""

    async def remove(session: AsyncSession) -> bool:
        removed = await session.scalar(
            delete(DigestSchedule)
            .where(DigestSchedule.team_id == team_id, DigestSchedule.channel_id == channel_id)
            .returning(DigestSchedule.id)
        )
        if removed is None:
            return False
        await audit.record(
            session,
            team_id=team_id,
            user_id=user_id,
            action="digest_off",
            outcome="changed",
            detail=f"channel {channel_id}",
        )
        return True

    return await db.run(remove, changes=True)


async def channel_schedule(
    db: Database, *, team_id: str, channel_id: str
) -> tuple[DigestSetup, LastDelivery | None] | None:
    """The channel's digest and its last delivery, if it has a digest."""

    async def read(session: AsyncSession) -> tuple[DigestSetup, LastDelivery | None] | None:
        row = await session.scalar(
            select(DigestSchedule).where(
                DigestSchedule.team_id == team_id, DigestSchedule.channel_id == channel_id
            )
        )
        if row is None:
            return None
        last = await session.scalar(
            select(DigestDelivery)
            .where(DigestDelivery.schedule_id == row.id)
            .order_by(DigestDelivery.slot.desc())
            .limit(1)
        )
        delivery = (
            LastDelivery(last.slot, last.outcome, last.slack_error, last.late) if last else None
        )
        return setup_of(row), delivery

    return await db.run(read)


async def claim_due(
    db: Database, *, now: datetime, limit: int = 100, lease: timedelta = LEASE
) -> list[ClaimedSlot]:
    """Claim the slots due at `now`: each at most once, whatever other workers do."""

    async def claim(session: AsyncSession) -> list[ClaimedSlot]:
        if db.dialect == "sqlite":
            # Take SQLite's write lock before reading: a transaction that reads first and
            # writes after another worker's commit fails at once instead of waiting its turn.
            await session.execute(
                update(DigestSchedule).where(false()).values(id=DigestSchedule.id)
            )
        query = (
            select(DigestSchedule)
            .where(DigestSchedule.next_run_at <= now, DigestSchedule.paused_reason.is_(None))
            .order_by(DigestSchedule.next_run_at)
            .limit(limit)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for row in (await session.scalars(query)).all():
            setup = setup_of(row)
            # After downtime, the latest slot that was due, once; the rest are skipped.
            slot = setup.schedule.previous_run(now)
            late = now - slot > LATE_AFTER
            row.next_run_at = setup.schedule.next_run(now)
            delivery_id = await session.scalar(
                db.insert()(DigestDelivery)
                .values(
                    schedule_id=row.id,
                    slot=slot,
                    late=late,
                    outcome="claimed",
                    attempts=1,
                    lease_until=now + lease,
                )
                .on_conflict_do_nothing(index_elements=["schedule_id", "slot"])
                .returning(DigestDelivery.id)
            )
            if delivery_id is not None:
                claimed.append(ClaimedSlot(delivery_id, setup, slot, late))
        claimed += await _reclaim_abandoned(session, now, lease)
        return claimed

    return await db.run(claim)


async def _reclaim_abandoned(
    session: AsyncSession, now: datetime, lease: timedelta
) -> list[ClaimedSlot]:
    """Claims whose worker died before finishing: tried once more, then recorded as not sent."""
    rows = (
        await session.execute(
            select(DigestDelivery, DigestSchedule)
            .join(DigestSchedule, DigestSchedule.id == DigestDelivery.schedule_id)
            .where(DigestDelivery.outcome == "claimed", DigestDelivery.lease_until < now)
            .with_for_update(of=DigestDelivery, skip_locked=True)
        )
    ).all()
    retried = []
    for delivery, schedule in rows:
        if delivery.message_ts is not None:
            # Posted before its worker stopped: sent, whatever was not recorded after.
            delivery.outcome, delivery.finished_at = "sent", now
            continue
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.outcome, delivery.slack_error, delivery.finished_at = "failed", "not_sent", now
            continue
        delivery.attempts += 1
        delivery.lease_until = now + lease
        delivery.late = delivery.late or now - delivery.slot > LATE_AFTER
        retried.append(
            ClaimedSlot(
                delivery.id, setup_of(schedule), delivery.slot, delivery.late, delivery.attempts
            )
        )
    return retried


def _still_mine(slot: ClaimedSlot) -> ColumnElement[bool]:
    """The delivery row as this worker claimed it: not taken over since."""
    return (
        (DigestDelivery.id == slot.delivery_id)
        & (DigestDelivery.attempts == slot.attempt)
        & (DigestDelivery.outcome == "claimed")
    )


async def start(
    db: Database, slot: ClaimedSlot, *, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Renew the claim's lease as its delivery begins; False if another worker took it over
    meanwhile, or it is posted already (then this one must not send it)."""
    statement = (
        update(DigestDelivery)
        .where(_still_mine(slot), DigestDelivery.message_ts.is_(None))
        .values(lease_until=now + lease)
        .returning(DigestDelivery.id)
    )

    async def renew(session: AsyncSession) -> bool:
        return await session.scalar(statement) is not None

    return await db.run(renew)


async def mark_posted(db: Database, slot: ClaimedSlot, message_ts: str) -> None:
    """The digest is in the channel: never send this slot again, whatever happens next. Written
    even if another worker took the slot over meanwhile: its `start` then finds the slot posted
    and sends nothing."""
    statement = (
        update(DigestDelivery)
        .where(DigestDelivery.id == slot.delivery_id, DigestDelivery.message_ts.is_(None))
        .values(message_ts=message_ts)
    )

    async def write(session: AsyncSession) -> None:
        await session.execute(statement)

    await db.run(write)


async def finish(
    db: Database,
    slot: ClaimedSlot,
    *,
    now: datetime,
    outcome: str,
    message_ts: str | None = None,
    slack_error: str | None = None,
) -> None:
    """Record how a claimed slot ended; a channel Slack no longer lets the bot post in pauses
    its schedule."""

    async def write(session: AsyncSession) -> None:
        await session.execute(
            update(DigestDelivery)
            .where(_still_mine(slot))
            .values(
                outcome=outcome,
                message_ts=message_ts,
                slack_error=slack_error,
                finished_at=now,
            )
        )
        reason = pause_reason(slack_error)
        if reason is not None:
            await session.execute(
                update(DigestSchedule)
                .where(
                    DigestSchedule.team_id == slot.setup.team_id,
                    DigestSchedule.channel_id == slot.setup.channel_id,
                    DigestSchedule.paused_reason.is_(None),  # an uninstall's pause stands
                )
                .values(paused_reason=reason)
            )

    await db.run(write)


class Send(Protocol):
    """Composes and posts one slot's digest, calling `posted` with the first message's ts as
    soon as Slack takes it (or continues the thread of `resume`, a post cut short); what the
    post came to."""

    def __call__(
        self,
        slot: ClaimedSlot,
        posted: Callable[[str], Awaitable[None]],
        resume: Posted | None = None,
    ) -> Awaitable[Posted]: ...


# Tells whoever set the schedule that it stopped, with Slack's error.
Tell = Callable[["DigestSetup", str], Awaitable[None]]
FINISH_ATTEMPTS = 3
# The longest wait between two tries of Slack or the database.
MAX_RETRY_WAIT = timedelta(seconds=30).total_seconds()
# Retries end this long before the lease does, so the slot is never sent by two workers at once.
LEASE_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Delivery:
    """How one slot is delivered: Slack's side, and the clock and limits it keeps to."""

    send: Send
    tell: Tell
    clock: Callable[[], datetime]
    backoff: float  # the first wait before trying Slack or the database again
    lease: timedelta = LEASE
    stopping: Callable[[], bool] = lambda: False  # the worker is shutting down


async def deliver(db: Database, slot: ClaimedSlot, how: Delivery) -> Posted | None:
    """Send one claimed slot at most once: renew the claim (a slot taken over is left alone),
    post, record the message's ts the moment Slack takes it, then record the outcome.

    Slack rate limiting or not answering is tried again while the lease lasts; after it the slot
    is left to be claimed again (one more attempt, whose failure is recorded). Once Slack has
    taken the digest, its ts is recorded whatever it takes: tried until the database answers or
    the worker stops. What the post came to, or None when nothing was sent."""
    where = _where(slot)
    started = how.clock()
    metrics.DIGEST_DELAY.observe(max((started - slot.slot).total_seconds(), 0.0))
    try:
        if not await start(db, slot, now=started, lease=how.lease):
            logger.info("Digest %s was taken over by another worker", where)
            return None
        margin = min(LEASE_MARGIN, how.lease / 10)
        result = await _send(db, slot, how, until=started + how.lease - margin)
    except DatabaseUnavailable as exc:
        logger.warning("Digest %s waits for the database: %s", where, exc)
        return None
    except Exception:
        logger.exception("Digest %s failed", where)
        result = Posted(None, "internal_error")
    if result.ts is None and result.retry and slot.attempt < MAX_ATTEMPTS:
        logger.warning("Digest %s not sent yet (Slack said %s): tried again", where, result.error)
        return result
    await _record(db, slot, result, how)
    metrics.DIGESTS.labels(_outcome(result)).inc()
    if slot.late:
        metrics.DIGESTS_LATE.inc()
    if result.error is None:
        logger.info("Digest %s sent", where)
    else:
        logger.warning("Digest %s: Slack said %s", where, result.error)
        if tell_who_set_it(result.error):
            await how.tell(slot.setup, result.error)
    return result


async def _send(db: Database, slot: ClaimedSlot, how: Delivery, *, until: datetime) -> Posted:
    """Post, again after a wait while Slack is only "not now" and the lease allows."""

    async def posted(ts: str) -> None:
        try:
            await mark_posted(db, slot, ts)
        except DatabaseUnavailable as exc:  # the outcome, ts included, is recorded after
            logger.warning("Digest %s posted but not yet marked: %s", _where(slot), exc)

    result = await how.send(slot, posted)
    attempt = 0
    while result.retry and not how.stopping():
        wait = min(how.backoff * 2**attempt, MAX_RETRY_WAIT)
        if how.clock() + timedelta(seconds=wait) > until:
            break
        await asyncio.sleep(wait)
        attempt += 1
        # A thread cut short is continued; nothing posted yet is posted again.
        result = await how.send(slot, posted, result if result.ts else None)
    return result


async def _record(db: Database, slot: ClaimedSlot, result: Posted, how: Delivery) -> None:
    """Record the outcome. Without a post, a few tries (an unrecorded slot is claimed again
    after its lease, which is harmless: nothing was sent). With one, until the database
    answers or the worker stops: an unrecorded post would be sent again."""
    attempt = 0
    while True:
        try:
            if result.ts is not None:
                await mark_posted(db, slot, result.ts)
            await finish(
                db,
                slot,
                # When it was sent, as the readings are timed: "change since the last digest".
                now=utcnow(),
                outcome=_outcome(result),
                message_ts=result.ts,
                slack_error=result.error,
            )
            return
        except DatabaseUnavailable as exc:
            attempt += 1
            logger.warning(
                "Digest %s outcome not recorded (try %d): %s", _where(slot), attempt, exc
            )
            if (result.ts is None and attempt >= FINISH_ATTEMPTS) or how.stopping():
                if result.ts is not None:
                    logger.error(
                        "Digest %s was posted but the database never took it before shutdown: "
                        "it may be sent again",
                        _where(slot),
                    )
                return
            await asyncio.sleep(min(how.backoff * 2 ** (attempt - 1), MAX_RETRY_WAIT))


def _outcome(result: Posted) -> str:
    """`sent`; `partial` when the digest is in the channel but some of its thread is not;
    `failed` when nothing was posted."""
    if result.ts is None:
        return "failed"
    return "partial" if result.cut_short else "sent"


def _where(slot: ClaimedSlot) -> str:
    setup = slot.setup
    return f"team={setup.team_id} channel={setup.channel_id} slot={slot.slot.isoformat()}"


@dataclass(frozen=True)
class PostedDigest:
    """A digest in the channel, as it was sent: its slot, whether late, and the previous one."""

    slot: datetime
    late: bool
    since: datetime | None


async def posted_digest(
    db: Database, *, team_id: str, channel_id: str, message_ts: str
) -> PostedDigest | None:
    """The digest whose first message is `message_ts` in the channel, if the bot sent one."""
    sent = (
        select(DigestDelivery.slot, DigestDelivery.late)
        .join(DigestSchedule, DigestSchedule.id == DigestDelivery.schedule_id)
        .where(
            DigestSchedule.team_id == team_id,
            DigestSchedule.channel_id == channel_id,
            DigestDelivery.message_ts == message_ts,
        )
    )

    async def read(session: AsyncSession) -> PostedDigest | None:
        found = (await session.execute(sent)).first()
        if found is None:
            return None
        since = await session.scalar(_previous_sent(team_id, channel_id, found.slot))
        return PostedDigest(found.slot, bool(found.late), since)

    return await db.run(read)


def _previous_sent(team_id: str, channel_id: str, before: datetime) -> Select[tuple[datetime]]:
    return (
        select(DigestDelivery.finished_at)
        .join(DigestSchedule, DigestSchedule.id == DigestDelivery.schedule_id)
        .where(
            DigestSchedule.team_id == team_id,
            DigestSchedule.channel_id == channel_id,
            DigestDelivery.outcome.in_(("sent", "partial")),
            DigestDelivery.slot < before,
        )
        .order_by(DigestDelivery.slot.desc())
        .limit(1)
    )


async def previous_delivery_time(db: Database, slot: ClaimedSlot) -> datetime | None:
    """When the last digest before `slot` was sent, for "change since the last digest"."""

    async def read(session: AsyncSession) -> datetime | None:
        return await session.scalar(
            _previous_sent(slot.setup.team_id, slot.setup.channel_id, slot.slot)
        )

    return await db.run(read)


@dataclass(frozen=True)
class DigestEntry:
    """One alias of a channel's digest: its reading, or why there is none."""

    alias: str
    application_id: str
    snapshot: QuotaSnapshot | None
    error: Exception | None  # NoTokenConfigured or an AceDataError, when there is no reading
    change: Decimal | None  # remaining now minus at the last digest
    # The APIs that cost most today in the digest's zone (empty: none, or unknown).
    top: tuple[ApiShare, ...] = ()


# How many APIs a digest line names, and how long it waits for them.
TOP_APIS = 3
TOP_DEADLINE = 5.0


async def entries(
    db: Database,
    round_: Round,
    *,
    team_id: str,
    channel_id: str,
    fallback_token: str | None,
    since: datetime | None,
    today: PeriodBounds | None = None,
) -> list[DigestEntry]:
    """Every alias visible in the channel with its quota, read through `round_`; with `today`
    (the digest's day so far, in its zone), each readable alias's top APIs today too."""
    linked = await aliases.visible_aliases(db, team_id=team_id, channel_id=channel_id)
    try:
        token: str | None = await round_.token(team_id, fallback_token)
        missing: Exception | None = None
    except NoTokenConfigured as exc:
        token, missing = None, exc

    async def entry(alias: aliases.LinkedAlias) -> DigestEntry:
        if token is None:
            return DigestEntry(alias.name, alias.application_id, None, missing, None)
        try:
            snapshot = await round_.observe(team_id, token, alias.application_id)
        except AceDataError as exc:
            return DigestEntry(alias.name, alias.application_id, None, exc, None)
        return DigestEntry(
            alias.name,
            alias.application_id,
            snapshot,
            None,
            await _change_since(db, team_id, snapshot, since),
            await _top_today(round_, token, alias.application_id, today),
        )

    return list(await asyncio.gather(*(entry(alias) for alias in linked)))


async def _top_today(
    round_: Round, token: str, application_id: str, today: PeriodBounds | None
) -> tuple[ApiShare, ...]:
    """The application's top APIs today, from the round's one aggregate read; none when it
    cannot be read (a digest never fails for it)."""
    if today is None:
        return ()
    try:
        usage = await round_.usage(token, application_id, today, deadline=TOP_DEADLINE)
    except Exception as exc:
        logger.info("Digest: no top APIs for %s (%s): %s", application_id, type(exc).__name__, exc)
        return ()
    return top_apis(usage, TOP_APIS, today.days)


async def _change_since(
    db: Database, team_id: str, snapshot: QuotaSnapshot, since: datetime | None
) -> Decimal | None:
    remaining = snapshot.application.remaining_amount
    if since is None or not remaining.is_finite():
        return None
    try:
        then = await history.remaining_at(
            db, team_id=team_id, application_id=snapshot.application.id, at=since
        )
    except DatabaseUnavailable:
        return None
    return None if then is None else remaining - then
