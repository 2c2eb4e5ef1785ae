"""Spike alerts: a channel is told once per episode when an alias spends at least N times its
usual rate, and once more when it calms down.

The rule (`measure` reads, `decide` judges, both below): a spike starts when the amount used in
the last window (`SPIKE_WINDOW_SECONDS`) is at least N x the usual amount for a window of that
length AND at least 1 % of the quota (remaining + used). Usual is the average per window over
the 7 full UTC days before today: from the usage aggregate where it answers, else from the bot's
own quota history. The window's amount comes from the bot's own readings. The episode ends when
the window's amount is under half of what started it. Whatever cannot be measured (no reading a
window old, no usual at all) decides nothing: no message, no error.

A check is claimed as an alert's is: `next_check_at` moved on in the transaction that reads it
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never check one watch at once; the
episode is saved only once its message was posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics
from ..acedata import AceDataClient, AceDataError, InvalidToken
from ..acedata.models import ApiUsage, UsageRecord
from ..db.database import Database, DatabaseUnavailable
from ..db.models import Observation, SpikeAlert
from . import aliases, watches
from .alerts import ALIAS_GONE, NO_TOKEN, TOKEN_REJECTED, CheckSkipped
from .delivery import Posted, pause_reason, tell_who_set_it
from .errors import AliasNotFound, NoTokenConfigured
from .quota import QuotaSnapshot
from .rounds import READ_DEADLINE, READS_PER_TOKEN, Round
from .watches import PAUSE_AFTER

logger = logging.getLogger(__name__)

DEFAULT_FACTOR = Decimal(4)
MAX_FACTOR = Decimal(100)
# Usual is the average over this many full days before today (UTC).
USUAL_DAYS = 7
# A spike must also be at least this share of the quota (remaining + used).
MIN_QUOTA_SHARE = Decimal("0.01")
# The episode ends when the window's amount is under this share of what started it.
CALM_SHARE = Decimal("0.5")
# The bot's own history must span at least this much of the 7 days to say what is usual.
MIN_HISTORY_SPAN = timedelta(days=1)
SNOOZE_CHOICES: dict[str, int] = {"1h": 1, "1d": 24}
TOP = 3
SpikeSource = Literal["aggregate", "history"]


# ---------------------------------------------------------------------------------------------
# The rule (pure)


@dataclass(frozen=True)
class Measure:
    """What a check measured: the amount used in the last window, the usual amount for a window
    of that length (and where it came from), and the quota (remaining + used)."""

    window_amount: Decimal
    usual: Decimal
    quota: Decimal
    source: SpikeSource = "history"

    @property
    def floor(self) -> Decimal:
        """The least a spike spends whatever is usual: 1 % of the quota."""
        return max(self.quota, Decimal(0)) * MIN_QUOTA_SHARE

    def rate(self) -> Decimal | None:
        """How many times its usual amount the window spent; None when usual is nothing."""
        return None if self.usual <= 0 else self.window_amount / self.usual


def is_spiking(measure: Measure, factor: Decimal) -> bool:
    """At least `factor` x usual, at least 1 % of the quota, and something at all."""
    spent = measure.window_amount
    return spent > 0 and spent >= factor * measure.usual and spent >= measure.floor


def is_calm(measure: Measure, factor: Decimal) -> bool:
    """Under half the trigger (`factor` x usual), or under half the 1 % floor when that is what
    a spike needs more of: clearly below what starts one."""
    spent = measure.window_amount
    return spent < factor * measure.usual * CALM_SHARE or spent < measure.floor * CALM_SHARE


@dataclass(frozen=True)
class SpikeState:
    """The episode in progress (and its message, once posted), and any snooze."""

    episode_started_at: datetime | None = None
    episode_ts: str | None = None
    snoozed_until: datetime | None = None

    def snoozed(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until


Post = Literal["start", "end"]


@dataclass(frozen=True)
class SpikeDecision:
    state: SpikeState
    post: Post | None = None


def decide(
    state: SpikeState, measure: Measure | None, factor: Decimal, now: datetime
) -> SpikeDecision:
    """What to tell the channel: a spike starting (once per episode; not while snoozed, but
    once the snooze is over if it still goes on), or its end (only if its start was told)."""
    if measure is None:
        return SpikeDecision(state)
    if state.episode_started_at is None:
        if not is_spiking(measure, factor):
            return SpikeDecision(state)
        started = replace(state, episode_started_at=now, episode_ts=None)
        return SpikeDecision(started, None if state.snoozed(now) else "start")
    if is_calm(measure, factor):
        ended = replace(state, episode_started_at=None, episode_ts=None)
        return SpikeDecision(ended, "end" if state.episode_ts else None)
    if state.episode_ts is None and not state.snoozed(now) and is_spiking(measure, factor):
        return SpikeDecision(state, "start")  # started while snoozed, and still going
    return SpikeDecision(state)


def usual_from_aggregate(usage: ApiUsage, *, today: date, window: timedelta) -> Decimal | None:
    """The average per window over the `USUAL_DAYS` full days before `today`; None when the
    aggregate has nothing for them."""
    first = today - timedelta(days=USUAL_DAYS)
    amounts = [item.amount for item in usage.items if first <= item.day < today]
    if not amounts:
        return None
    return _per_window(sum(amounts, Decimal(0)), window, timedelta(days=USUAL_DAYS))


def usual_from_history(
    start: tuple[datetime, Decimal] | None,
    end: tuple[datetime, Decimal] | None,
    *,
    window: timedelta,
) -> Decimal | None:
    """The average per window between two readings of `used` (at, used); None when there are
    not two readings at least `MIN_HISTORY_SPAN` apart, or `used` went down (a reset)."""
    if start is None or end is None or end[0] - start[0] < MIN_HISTORY_SPAN:
        return None
    spent = end[1] - start[1]
    if spent < 0:
        return None
    return _per_window(spent, window, end[0] - start[0])


def _per_window(spent: Decimal, window: timedelta, span: timedelta) -> Decimal:
    """What was `spent` over `span`, per `window`."""
    return spent * Decimal(int(window.total_seconds())) / Decimal(int(span.total_seconds()))


@dataclass(frozen=True)
class Share:
    """One API or key's spend in the window."""

    id: str
    name: str
    amount: Decimal


@dataclass(frozen=True)
class Breakdown:
    """Where the window's spend went, from the usage records (the latest `seen` of `count`)."""

    apis: tuple[Share, ...]
    keys: tuple[Share, ...]
    total: Decimal  # spent by the records seen
    seen: int
    count: int


def breakdown(records: list[UsageRecord], count: int, titles: ApiUsage | None = None) -> Breakdown:
    """The records' amounts by API and by key, largest first, the top `TOP` of each."""
    apis: dict[str, Decimal] = {}
    keys: dict[str, Decimal] = {}
    names: dict[str, str] = {}
    for record in records:
        if not record.amount.is_finite():
            continue
        api = record.api_id or "unknown"
        apis[api] = apis.get(api, Decimal(0)) + record.amount
        if record.credential_id:
            keys[record.credential_id] = keys.get(record.credential_id, Decimal(0)) + record.amount
            if record.credential_name:
                names.setdefault(record.credential_id, record.credential_name)

    def top(spend: dict[str, Decimal], name: Callable[[str], str]) -> tuple[Share, ...]:
        ranked = sorted(spend.items(), key=lambda item: (-item[1], item[0]))
        return tuple(Share(id_, name(id_), amount) for id_, amount in ranked[:TOP] if amount > 0)

    return Breakdown(
        apis=top(apis, lambda api: titles.title(api) if titles is not None else api),
        keys=top(keys, lambda key: names.get(key) or f"key {key[:8]}"),
        total=sum(apis.values(), Decimal(0)),
        seen=len(records),
        count=max(count, len(records)),
    )


# ---------------------------------------------------------------------------------------------
# Watches: set, remove, list, snooze, claim, save


@dataclass(frozen=True)
class SpikeWatch:
    """One spike watch as the rest of the bot sees it."""

    id: int
    team_id: str
    channel_id: str
    alias: str
    factor: Decimal
    state: SpikeState
    created_by: str
    last_checked_at: datetime | None
    paused_reason: str | None = None
    failures: int = 0


def watch_of(row: SpikeAlert) -> SpikeWatch:
    return SpikeWatch(
        id=row.id,
        team_id=row.team_id,
        channel_id=row.channel_id,
        alias=row.alias,
        factor=Decimal(row.factor),
        state=SpikeState(
            episode_started_at=row.episode_started_at,
            episode_ts=row.episode_ts,
            snoozed_until=row.snoozed_until,
        ),
        created_by=row.created_by,
        last_checked_at=row.last_checked_at,
        paused_reason=row.paused_reason,
        failures=row.failures or 0,
    )


def _same_watch(watch: SpikeWatch) -> list[object]:
    """The watch as it was claimed: not set anew (another factor or setter) meanwhile."""
    return [
        SpikeAlert.id == watch.id,
        SpikeAlert.factor == str(watch.factor),
        SpikeAlert.created_by == watch.created_by,
    ]


async def set_spike(
    db: Database,
    *,
    team_id: str,
    channel_id: str,
    alias: str,
    factor: Decimal,
    now: datetime,
    user_id: str,
) -> None:
    """Watch `alias` for spikes in the channel (audited); set anew, it starts afresh."""
    values = {
        "factor": str(factor),
        "episode_started_at": None,
        "episode_ts": None,
        "snoozed_until": None,
        "next_check_at": now,
        "paused_reason": None,
        "failures": 0,
        "created_by": user_id,
    }

    await watches.save_watch(
        db,
        SpikeAlert,
        team_id=team_id,
        channel_id=channel_id,
        alias=alias,
        values=values,
        now=now,
        user_id=user_id,
        action="spike_set",
        after=f"{factor}x",
    )


async def remove_spike(
    db: Database, *, team_id: str, channel_id: str, alias: str, user_id: str
) -> bool:
    """Stop watching `alias` for spikes in the channel (audited); False if it was not."""
    return await watches.remove_watch(
        db,
        SpikeAlert,
        team_id=team_id,
        channel_id=channel_id,
        alias=alias,
        user_id=user_id,
        action="spike_off",
    )


async def channel_spikes(db: Database, *, team_id: str, channel_id: str) -> list[SpikeWatch]:
    query = (
        select(SpikeAlert)
        .where(SpikeAlert.team_id == team_id, SpikeAlert.channel_id == channel_id)
        .order_by(SpikeAlert.alias)
    )

    async def read(session: AsyncSession) -> list[SpikeWatch]:
        return [watch_of(row) for row in (await session.scalars(query)).all()]

    return await db.run(read)


async def snooze_spike(
    db: Database, *, team_id: str, channel_id: str, alias: str, choice: str, now: datetime
) -> SpikeWatch | None:
    """Snooze the channel's spike watch on `alias` (`SNOOZE_CHOICES`); None if there is none."""
    until = now + timedelta(hours=SNOOZE_CHOICES[choice])

    async def write(session: AsyncSession) -> SpikeWatch | None:
        row = await session.scalar(
            select(SpikeAlert)
            .where(
                SpikeAlert.team_id == team_id,
                SpikeAlert.channel_id == channel_id,
                SpikeAlert.alias == alias,
            )
            .with_for_update()
        )
        if row is None:
            return None
        row.snoozed_until = until
        await session.flush()
        return watch_of(row)

    return await db.run(write, changes=True)


async def claim_due(
    db: Database, *, now: datetime, every: timedelta, limit: int = 500
) -> list[SpikeWatch]:
    """The spike watches due at `now`, each moved on by `every` so no one else takes it."""

    async def claim(session: AsyncSession) -> list[SpikeWatch]:
        rows = await watches.claim_rows(session, db, SpikeAlert, now=now, every=every, limit=limit)
        return [watch_of(row) for row in rows]

    return await db.run(claim)


async def save_state(
    db: Database, watch: SpikeWatch, state: SpikeState, *, paused_reason: str | None = None
) -> None:
    """The episode after a check: only what the check changed, and only if the watch was not
    set anew meanwhile (a Snooze pressed during the check stands). `paused_reason` pauses it."""
    changed: dict[str, object] = {}
    if state.episode_started_at != watch.state.episode_started_at:
        changed["episode_started_at"] = state.episode_started_at
    if state.episode_ts != watch.state.episode_ts:
        changed["episode_ts"] = state.episode_ts
    if paused_reason is not None:
        changed["paused_reason"] = func.coalesce(SpikeAlert.paused_reason, paused_reason)
    elif watch.failures:
        changed["failures"] = 0
    if not changed:
        return
    statement = update(SpikeAlert).where(*_same_watch(watch)).values(**changed)

    async def write(session: AsyncSession) -> None:
        await session.execute(statement)

    await db.run(write)


# ---------------------------------------------------------------------------------------------
# Measuring


async def used_at(
    db: Database, *, team_id: str, application_id: str, at: datetime, first_after: bool = False
) -> tuple[datetime, Decimal] | None:
    """The latest reading of `used` at or before `at` (or, `first_after`, the earliest after
    it when there is none before), as (when, used)."""
    where = [Observation.team_id == team_id, Observation.application_id == application_id]
    before = (
        select(Observation.observed_at, Observation.used)
        .where(*where, Observation.observed_at <= at)
        .order_by(Observation.observed_at.desc(), Observation.id.desc())
        .limit(1)
    )
    after = (
        select(Observation.observed_at, Observation.used)
        .where(*where, Observation.observed_at > at)
        .order_by(Observation.observed_at, Observation.id)
        .limit(1)
    )

    async def read(session: AsyncSession) -> tuple[datetime, Decimal] | None:
        for query in (before, after) if first_after else (before,):
            row = (await session.execute(query)).first()
            if row is not None:
                found = Decimal(row[1])
                return (row[0], found) if found.is_finite() else None
        return None

    return await db.run(read)


# Aggregate failures already logged, per (application, kind): "log it once".
_LOGGED: set[tuple[str, str]] = set()


@dataclass
class SpikeRound:
    """One alert round's reads for spike checks: the usage aggregate of an application for the
    usual, read once per (token, application, day) however many channels watch it, within the
    round's limits (and not at all for an account the round found rate-limited)."""

    round_: Round
    usages: dict[tuple[str, str, date], asyncio.Task[ApiUsage | None]] = field(default_factory=dict)

    @property
    def client(self) -> AceDataClient:
        return self.round_.client

    def usage(self, token: str, application_id: str, today: date) -> asyncio.Task[ApiUsage | None]:
        key = (token, application_id, today)
        if key not in self.usages:
            self.usages[key] = asyncio.ensure_future(self._usage(token, application_id, today))
        return self.usages[key]

    async def _usage(self, token: str, application_id: str, today: date) -> ApiUsage | None:
        until = datetime.combine(today, time(), UTC)
        token_limit = self.round_.per_token.setdefault(token, asyncio.Semaphore(READS_PER_TOKEN))
        try:
            async with token_limit, self.round_.limit:
                if token in self.round_.rate_limited:
                    raise self.round_.rate_limited[token]
                return await self.client.usage_by_api(
                    token,
                    application_id,
                    since=until - timedelta(days=USUAL_DAYS),
                    until=until,
                    deadline=READ_DEADLINE,
                    settled=True,
                )
        except AceDataError as exc:
            kind = type(exc).__name__
            if (application_id, kind) not in _LOGGED:
                _LOGGED.add((application_id, kind))
                logger.warning(
                    "Usage aggregate unavailable for %s (%s); spike alerts use the bot's own "
                    "history for what is usual",
                    application_id,
                    exc,
                )
            return None


async def measure(
    db: Database,
    spike_round: SpikeRound,
    snapshot: QuotaSnapshot,
    *,
    team_id: str,
    token: str,
    window: timedelta,
) -> tuple[Measure | None, ApiUsage | None]:
    """The window's amount and the usual one for the application read in `snapshot` (None when
    either cannot be known), and the aggregate when it answered (for the APIs' titles)."""
    app, now = snapshot.application, snapshot.as_of
    if not (app.used_amount.is_finite() and app.remaining_amount.is_finite()):
        return None, None
    before = await used_at(db, team_id=team_id, application_id=app.id, at=now - window)
    if before is None or app.used_amount < before[1]:
        return None, None
    today = now.astimezone(UTC).date()
    usage = await spike_round.usage(token, app.id, today)
    usual = None if usage is None else usual_from_aggregate(usage, today=today, window=window)
    source: SpikeSource = "aggregate"
    if usual is None:
        source = "history"
        end = datetime.combine(today, time(), UTC)
        start = end - timedelta(days=USUAL_DAYS)
        first = await used_at(
            db, team_id=team_id, application_id=app.id, at=start, first_after=True
        )
        last = await used_at(db, team_id=team_id, application_id=app.id, at=end)
        usual = usual_from_history(first, last, window=window)
    if usual is None:
        return None, usage
    quota = app.remaining_amount + app.used_amount
    return Measure(app.used_amount - before[1], usual, quota, source), usage


# ---------------------------------------------------------------------------------------------
# The check


@dataclass(frozen=True)
class SpikeNews:
    """What a check has to tell the channel: a spike starting (with where it went, when known)
    or ending."""

    watch: SpikeWatch
    snapshot: QuotaSnapshot
    measure: Measure
    post: Post
    window: timedelta
    breakdown: Breakdown | None = None


# Posts a spike's news (its end in the thread of its start); what the post came to.
Notify = Callable[[SpikeNews], Awaitable[Posted]]
# Tells whoever set the watch that it stopped, with the reason.
TellWatcher = Callable[[SpikeWatch, str], Awaitable[None]]


@dataclass(frozen=True)
class SpikeCheck:
    """How a spike check is carried out: the round's shared reads, and Slack's side."""

    spike_round: SpikeRound
    notify: Notify
    token: Callable[[str], Awaitable[str]]
    tell: TellWatcher
    window: timedelta


async def check(db: Database, how: SpikeCheck, watch: SpikeWatch, *, now: datetime) -> None:
    """Read the watched alias, measure, decide, and tell the channel when a spike starts or
    ends; the episode is saved only once the channel was told. A check that cannot read the
    alias for a lasting reason pauses it after `PAUSE_AFTER` rounds, its setter told once."""
    where = f"team={watch.team_id} channel={watch.channel_id} alias={watch.alias}"
    try:
        token = await _token(how.token, watch)
        snapshot = await _read(db, how.spike_round.round_, watch, token)
        found, usage = await measure(
            db, how.spike_round, snapshot, team_id=watch.team_id, token=token, window=how.window
        )
    except (CheckSkipped, DatabaseUnavailable) as exc:
        logger.warning("Spike check %s skipped: %s", where, exc)
        lasting = exc.lasting if isinstance(exc, CheckSkipped) else None
        if lasting is not None and await watches.failed_again(db, SpikeAlert, watch.id, lasting):
            logger.warning("Spike watch %s paused after %d rounds: %s", where, PAUSE_AFTER, lasting)
            await how.tell(watch, lasting)
        return
    decision = decide(watch.state, found, watch.factor, now)
    state = decision.state
    if decision.post is not None and found is not None:
        details = None
        if decision.post == "start":
            details = await _breakdown(how.spike_round.client, snapshot, token, how.window, usage)
        news = SpikeNews(watch, snapshot, found, decision.post, how.window, details)
        posted = await how.notify(news)
        if posted.error is not None:
            logger.warning("Spike %s not posted: %s", where, posted.error)
            metrics.ALERTS_FAILED.labels("spike").inc()
            reason = pause_reason(posted.error)
            if reason is not None:
                await save_state(db, watch, watch.state, paused_reason=reason)
            if tell_who_set_it(posted.error):
                await how.tell(watch, posted.error)
            return
        if decision.post == "start":
            state = replace(state, episode_ts=posted.ts)
        logger.info("Spike %s: told the channel (%s)", where, decision.post)
        metrics.ALERTS.labels("spike", decision.post).inc()
    await save_state(db, watch, state)


async def _token(token: Callable[[str], Awaitable[str]], watch: SpikeWatch) -> str:
    try:
        return await token(watch.team_id)
    except NoTokenConfigured:
        raise CheckSkipped("NoTokenConfigured", NO_TOKEN) from None


async def _read(db: Database, round_: Round, watch: SpikeWatch, token: str) -> QuotaSnapshot:
    """The watched alias's application through the round (one read per application)."""
    try:
        alias = await aliases.resolve(
            db, team_id=watch.team_id, channel_id=watch.channel_id, name=watch.alias
        )
        return await round_.observe(watch.team_id, token, alias.application_id)
    except AliasNotFound:
        raise CheckSkipped("AliasNotFound", ALIAS_GONE) from None
    except InvalidToken:
        raise CheckSkipped("InvalidToken", TOKEN_REJECTED) from None
    except AceDataError as exc:
        raise CheckSkipped(f"{type(exc).__name__}: {exc}") from None


async def _breakdown(
    client: AceDataClient,
    snapshot: QuotaSnapshot,
    token: str,
    window: timedelta,
    titles: ApiUsage | None,
) -> Breakdown | None:
    """Where the window's spend went, best effort: None when the usage list cannot be read."""
    until = snapshot.as_of
    try:
        records, count = await client.recent_usage(
            token,
            snapshot.application.id,
            since=until - window,
            until=until,
            deadline=READ_DEADLINE,
        )
    except AceDataError as exc:
        logger.warning("Usage records unavailable for %s: %s", snapshot.application.id, exc)
        return None
    return breakdown(records, count, titles)
