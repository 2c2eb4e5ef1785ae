"""An application's API keys: read with the bot's own readings of their spend, and changed
(cap, pause, resume) like the fallback switch — explicit target, serialized, re-read, audited.

A key's secrets never reach this module: the client drops them as it parses an answer.
Every reading of a key's `used_amount` is kept (at most one a minute per key) so that the list
can say what each key spent over the last day; the readings are thinned like quota history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..acedata import AceDataClient, AceDataError, ApiKey
from ..db.database import Database, DatabaseUnavailable
from ..db.models import KeyPause, utcnow
from ..db.models import KeyReading as KeyReadingRow
from . import audit
from .aliases import resolve
from .errors import ServiceError, TargetMoved
from .locks import LockBusy, application_lock
from .workspaces import ensure_workspace

logger = logging.getLogger(__name__)

DAY = timedelta(days=1)
# A reading this much older than a day still counts as "a day ago" (readings thinned past 14
# days keep one an hour); an older one gives the spend since it, said as such.
DAY_TOLERANCE = timedelta(hours=1)
STORE_EVERY = timedelta(minutes=1)
MAX_CAP = Decimal("1e15")
MAX_CAP_DECIMALS = 6
MAX_CAP_TEXT = 40

KeyAction = Literal["key_cap", "key_pause", "key_resume"]
KeyState = Literal["active", "paused", "capped"]


class InvalidCap(ServiceError):
    """What was typed as a cap is not one; `reason` says why, for the dialog's field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_cap(text: str) -> Decimal | None:
    """A spend cap as typed: None (empty: no cap), or a finite number from 0 up to below 10¹⁵
    with at most six decimals; InvalidCap otherwise. `1e3` is read as 1000."""
    raw = text.strip()
    if not raw:
        return None
    if len(raw) > MAX_CAP_TEXT or not raw.isascii():
        raise InvalidCap("Enter a plain number, like 500 or 1250.75.")
    if "," in raw:
        raise InvalidCap("Write the number without separators, like 1250.75.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidCap(
            "That is not a number. Enter an amount like 500, or leave it empty."
        ) from None
    if not value.is_finite():
        raise InvalidCap("Enter a finite amount, like 500.")
    if value < 0:
        raise InvalidCap("A cap cannot be negative. Enter 0 or more, or leave it empty.")
    if value.adjusted() >= 15:  # read without arithmetic, which 1e999999999 would overflow
        raise InvalidCap("That cap is too large: it must be below 1,000,000,000,000,000.")
    if value != value.quantize(Decimal(1).scaleb(-MAX_CAP_DECIMALS)):
        raise InvalidCap(f"Use at most {MAX_CAP_DECIMALS} decimal places.")
    return Decimal(0) if value == 0 else value.normalize()


def cap_text(cap: Decimal | None) -> str:
    """A cap as Ace Data Cloud takes it and the audit log keeps it: plain digits, or `none`."""
    return "none" if cap is None else format(cap, "f")


def key_state(key: ApiKey, now: datetime) -> KeyState:
    """Paused (its expiry has passed: refused), capped out (spent its cap), or active."""
    if key.is_paused(now):
        return "paused"
    if key.is_capped_out:
        return "capped"
    return "active"


@dataclass(frozen=True)
class Reading:
    at: datetime
    used: Decimal


@dataclass(frozen=True)
class DaySpend:
    """What a key spent lately by the bot's readings: over the last day (`since` None), or
    since `since` (the oldest reading there is, or one much older than a day); `amount` None
    when not known yet."""

    amount: Decimal | None
    since: datetime | None = None


def day_spend(
    used_now: Decimal, baseline: Reading | None, first: Reading | None, now: datetime
) -> DaySpend:
    """`baseline`: the latest reading at or before a day ago; `first`: the earliest after it."""
    start = baseline if baseline is not None else first
    if start is None or start.at >= now:
        return DaySpend(None)
    spent = used_now - start.used
    if spent < 0:  # the key's spend was reset: no honest figure
        return DaySpend(None)
    if baseline is not None and now - baseline.at <= DAY + DAY_TOLERANCE:
        return DaySpend(spent)
    return DaySpend(spent, since=start.at)


@dataclass(frozen=True)
class KeyView:
    key: ApiKey
    state: KeyState
    spend: DaySpend
    # Paused by the bot (so *Resume key* can restore), with the expiry it had then.
    paused_by_bot: bool = False
    previous_expiry: datetime | None = None


@dataclass(frozen=True)
class KeyList:
    application_id: str
    keys: list[KeyView]
    as_of: datetime


@dataclass(frozen=True)
class PausedKey:
    application_id: str
    key_id: str
    key_name: str | None
    paused_by: str
    paused_at: datetime
    previous_expiry: datetime | None


async def read_keys(
    client: AceDataClient,
    db: Database,
    token: str,
    *,
    team_id: str,
    application_id: str,
    deadline: float,
) -> KeyList:
    """The application's keys with their spend over the last day; this read is kept as a
    reading of each key."""
    keys = await client.list_keys(token, application_id, deadline=deadline)
    return await key_list(db, team_id=team_id, application_id=application_id, keys=keys)


async def key_list(
    db: Database, *, team_id: str, application_id: str, keys: list[ApiKey]
) -> KeyList:
    """`keys` as just read, with their readings (this one stored) and the bot's pauses."""
    now = utcnow()
    baselines, firsts, pauses = await record_key_readings(
        db, team_id=team_id, application_id=application_id, keys=keys, at=now
    )
    views = []
    for key in keys:
        views.append(
            KeyView(
                key=key,
                state=key_state(key, now),
                spend=day_spend(key.used_amount, baselines.get(key.id), firsts.get(key.id), now),
                paused_by_bot=key.id in pauses,
                previous_expiry=pauses.get(key.id),
            )
        )
    views.sort(key=_ranking)
    return KeyList(application_id=application_id, keys=views, as_of=now)


def _ranking(view: KeyView) -> tuple[Decimal, Decimal, str]:
    """Most spent over the last day first (a leak shows at the top), then most spent."""
    lately = view.spend.amount if view.spend.amount is not None else Decimal(-1)
    return (-lately, -view.key.used_amount, view.key.display_name.lower())


Recorded = tuple[dict[str, "Reading"], dict[str, "Reading"], dict[str, datetime | None]]


async def record_key_readings(
    db: Database, *, team_id: str, application_id: str, keys: list[ApiKey], at: datetime
) -> Recorded:
    """Store a reading of each key (none when one was stored within `STORE_EVERY`); return,
    per key, the latest reading at or before a day ago, the earliest after it, and (for a key
    the bot paused) the expiry it had before."""
    cutoff = at - DAY

    async def work(session: AsyncSession) -> Recorded:
        last = await _readings(session, team_id, application_id, func.max, at=(None, at))
        baselines = await _readings(session, team_id, application_id, func.max, at=(None, cutoff))
        firsts = await _readings(session, team_id, application_id, func.min, at=(cutoff, at))
        pauses = await _pauses(session, team_id, [key.id for key in keys])
        for key in keys:
            previous = last.get(key.id)
            if previous is None or at - previous.at >= STORE_EVERY:
                session.add(
                    KeyReadingRow(
                        team_id=team_id,
                        application_id=application_id,
                        key_id=key.id,
                        key_name=key.name[:100] if key.name else None,
                        used=str(key.used_amount),
                        observed_at=at,
                    )
                )
        return baselines, firsts, pauses

    return await db.run(work)


async def _readings(
    session: AsyncSession,
    team_id: str,
    application_id: str,
    pick: Callable[[Any], Any],
    *,
    at: tuple[datetime | None, datetime],
) -> dict[str, Reading]:
    """Per key, the latest (`func.max`) or earliest (`func.min`) reading after `at[0]`
    (exclusive, when given) and at or before `at[1]`."""
    after, until = at
    where = [
        KeyReadingRow.team_id == team_id,
        KeyReadingRow.application_id == application_id,
        KeyReadingRow.observed_at <= until,
    ]
    if after is not None:
        where.append(KeyReadingRow.observed_at > after)
    chosen = (
        select(KeyReadingRow.key_id, pick(KeyReadingRow.observed_at).label("at"))
        .where(*where)
        .group_by(KeyReadingRow.key_id)
        .subquery()
    )
    query = select(KeyReadingRow.key_id, KeyReadingRow.used, KeyReadingRow.observed_at).join(
        chosen,
        (KeyReadingRow.key_id == chosen.c.key_id) & (KeyReadingRow.observed_at == chosen.c.at),
    )
    rows = (await session.execute(query.where(*where))).all()
    return {key_id: Reading(at=moment, used=Decimal(used)) for key_id, used, moment in rows}


async def _pauses(
    session: AsyncSession, team_id: str, key_ids: list[str]
) -> dict[str, datetime | None]:
    """Per key the bot paused, the expiry it had before."""
    if not key_ids:
        return {}
    query = select(KeyPause.key_id, KeyPause.previous_expired_at).where(
        KeyPause.team_id == team_id, KeyPause.key_id.in_(key_ids)
    )
    return {key_id: expiry for key_id, expiry in (await session.execute(query)).all()}


async def paused_by_bot(db: Database, team_id: str) -> list[PausedKey]:
    """The keys the bot paused in this workspace (and has not resumed), oldest pause first."""
    query = (
        select(KeyPause)
        .where(KeyPause.team_id == team_id)
        .order_by(KeyPause.paused_at, KeyPause.key_id)
    )

    async def read(session: AsyncSession) -> list[PausedKey]:
        return [
            PausedKey(
                application_id=row.application_id,
                key_id=row.key_id,
                key_name=row.key_name,
                paused_by=row.paused_by,
                paused_at=row.paused_at,
                previous_expiry=row.previous_expired_at,
            )
            for row in (await session.scalars(query)).all()
        ]

    return await db.run(read)


# Changing a key.


class KeyNotListed(ServiceError):
    """The key is not among the application's keys as the workspace's token reads them."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id


@dataclass(frozen=True)
class KeyChangeRequest:
    team_id: str
    user_id: str
    channel_id: str
    alias: str
    application_id: str
    key_id: str
    action: KeyAction
    cap: Decimal | None = None  # for key_cap: the new cap, None to clear it


@dataclass(frozen=True)
class KeyChangeResult:
    """`outcome`: changed, unchanged (it already was), refused (not the application's key, or
    not paused by the bot), mismatch (accepted but not so on re-reading) or failed; `uncertain`
    when a failed change may still have been applied and could not be read back."""

    outcome: str
    before: ApiKey | None = None
    after: ApiKey | None = None
    keys: KeyList | None = None
    error: AceDataError | None = None
    uncertain: bool = False
    audit_missing: bool = False
    # For a refusal: `not_listed` or `not_paused_by_bot`.
    reason: str | None = None
    # A pause: the expiry a resume restores; a resume: the expiry restored.
    expiry: datetime | None = None
    wrote_pause: bool = False


async def check_key_target(
    db: Database, *, team_id: str, channel_id: str, alias: str, application_id: str
) -> None:
    """A key button's alias, resolved again in the pressed channel for the acting workspace,
    must still name the application the button names (AliasNotFound, TargetMoved)."""
    found = await resolve(db, team_id=team_id, channel_id=channel_id, name=alias)
    if found.application_id != application_id:
        raise TargetMoved(alias)


async def find_key(
    client: AceDataClient, token: str, *, application_id: str, key_id: str, deadline: float
) -> ApiKey:
    """One key of the application, as the token reads it now; KeyNotListed when it is not one
    of the application's."""
    keys = await client.list_keys(token, application_id, deadline=deadline)
    key = _find(keys, key_id)
    if key is None:
        raise KeyNotListed(key_id)
    return key


async def record_key_attempt(
    db: Database,
    request: KeyChangeRequest,
    *,
    outcome: str,
    detail: str | None = None,
    before: str | None = None,
    after: str | None = None,
    error: AceDataError | None = None,
) -> None:
    """One audit row for an attempt on a key, in a transaction of its own."""

    async def write(session: AsyncSession) -> None:
        await _audit(session, request, outcome, detail, before, after, error)

    await db.run(write)


async def record_unreadable_key_button(
    db: Database, *, team_id: str, user_id: str, action: KeyAction
) -> None:
    """A key button (or cap dialog) whose value could not be read: refused, and audited."""
    await audit.record_alone(
        db,
        team_id=team_id,
        user_id=user_id,
        action=action,
        outcome="refused",
        detail="unreadable button value",
    )


async def _audit(
    session: AsyncSession,
    request: KeyChangeRequest,
    outcome: str,
    detail: str | None,
    before: str | None,
    after: str | None,
    error: AceDataError | None,
) -> None:
    about = f"key {request.key_id} (channel {request.channel_id})"
    await audit.record(
        session,
        team_id=request.team_id,
        user_id=request.user_id,
        action=request.action,
        outcome=outcome,
        alias=request.alias,
        application_id=request.application_id,
        before=before,
        requested=_requested(request),
        after=after,
        trace_id=error.trace_id if error else None,
        detail=f"{about}: {error or detail}" if (error or detail) else about,
    )


def _requested(request: KeyChangeRequest) -> str:
    match request.action:
        case "key_cap":
            return cap_text(request.cap)[:64]
        case "key_pause":
            return "paused"
    return "resumed"


def _described(request: KeyChangeRequest, key: ApiKey | None) -> str | None:
    """A key's state as the audit log keeps it: its cap, or its expiry."""
    if key is None:
        return None
    if request.action == "key_cap":
        return cap_text(key.limited_amount)[:64]
    if key.expired_at is None:
        return "no expiry"
    state = "paused" if key.is_paused(utcnow()) else "active"
    return f"{state}, expires {_iso(key.expired_at)}"[:64]


async def change_key(
    client: AceDataClient,
    db: Database,
    token: str,
    request: KeyChangeRequest,
    *,
    deadline: float,
    lock_wait: float,
) -> KeyChangeResult:
    """Make the change `request` asks for, once, under the application's lock; re-read to
    confirm; audit it. The re-read list comes back to be shown."""
    try:
        async with application_lock(
            db, team_id=request.team_id, application_id=request.application_id, wait=lock_wait
        ):
            result, keys = await _change(client, db, token, request, deadline=deadline)
            result = await _finish(db, request, result)
    except LockBusy:
        await record_key_attempt(db, request, outcome="busy", detail="another change in flight")
        raise
    if keys is not None:
        try:
            listed = await key_list(
                db, team_id=request.team_id, application_id=request.application_id, keys=keys
            )
        except DatabaseUnavailable as exc:
            logger.warning(
                "Key list not re-read after a change (team=%s): %s", request.team_id, exc
            )
        else:
            result = replace(result, keys=listed)
    return result


async def _change(
    client: AceDataClient, db: Database, token: str, request: KeyChangeRequest, *, deadline: float
) -> tuple[KeyChangeResult, list[ApiKey] | None]:
    try:
        keys = await client.list_keys(token, request.application_id, deadline=deadline)
    except AceDataError as exc:
        return KeyChangeResult("failed", error=exc), None
    key = _find(keys, request.key_id)
    if key is None:
        return KeyChangeResult("refused", reason="not_listed"), None
    now = utcnow()
    pause = await _pause_of(db, request.team_id, key.id)
    planned = _plan(request, key, pause, now)
    if isinstance(planned, KeyChangeResult):
        return planned, keys
    changes, expiry = planned
    wrote = False
    if request.action == "key_pause":
        await _save_pause(db, request, key, now)
        wrote = True
    result = await _send(client, token, request, key, changes, expiry, deadline=deadline)
    result = replace(result, wrote_pause=wrote, expiry=expiry)
    if result.after is None:
        return result, None
    return result, [result.after if k.id == key.id else k for k in keys]


@dataclass(frozen=True)
class Pause:
    """The bot's record of a pause: the expiry the key had before."""

    previous_expiry: datetime | None


def _plan(
    request: KeyChangeRequest, key: ApiKey, pause: Pause | None, now: datetime
) -> tuple[dict[str, str | None], datetime | None] | KeyChangeResult:
    """What to send, and the expiry it concerns; or the result when nothing is to be sent."""
    match request.action:
        case "key_cap":
            if key.limited_amount == request.cap:
                return KeyChangeResult("unchanged", before=key, after=key)
            wanted = None if request.cap is None else cap_text(request.cap)
            return {"limited_amount": wanted}, None
        case "key_pause":
            if key.is_paused(now):
                return KeyChangeResult("unchanged", before=key, after=key)
            return {"expired_at": _iso(now)}, key.expired_at
    if not key.is_paused(now):
        return KeyChangeResult("unchanged", before=key, after=key)
    if pause is None:
        return KeyChangeResult("refused", before=key, reason="not_paused_by_bot")
    previous = pause.previous_expiry
    return {"expired_at": None if previous is None else _iso(previous)}, previous


async def _send(
    client: AceDataClient,
    token: str,
    request: KeyChangeRequest,
    key: ApiKey,
    changes: dict[str, str | None],
    expiry: datetime | None,
    *,
    deadline: float,
) -> KeyChangeResult:
    """Send the change once, then read the key back to learn what happened."""
    posted: ApiKey | None = None
    send_error: AceDataError | None = None
    try:
        posted = await client.update_key(token, key.id, changes)
    except AceDataError as exc:
        logger.warning("Key change %s refused or failed: %s", request.action, exc)
        if exc.refused:
            return KeyChangeResult("failed", before=key, error=exc)
        send_error = exc  # a timeout or a 5xx may still have been applied: read to find out
    try:
        confirmed = _find(
            await client.list_keys(token, request.application_id, deadline=deadline), key.id
        )
    except AceDataError as exc:
        if posted is None:
            return KeyChangeResult("failed", before=key, error=send_error or exc, uncertain=True)
        logger.warning("Re-read after the key change failed, using the PATCH answer: %s", exc)
        confirmed = posted
    if confirmed is not None and _done(request, confirmed, expiry):
        return KeyChangeResult("changed", before=key, after=confirmed)
    if send_error is not None:
        return KeyChangeResult("failed", before=key, after=confirmed, error=send_error)
    return KeyChangeResult("mismatch", before=key, after=confirmed)


def _done(request: KeyChangeRequest, key: ApiKey, expiry: datetime | None) -> bool:
    match request.action:
        case "key_cap":
            return key.limited_amount == request.cap
        case "key_pause":
            return key.is_paused(utcnow())
    if expiry is None or key.expired_at is None:
        return key.expired_at is None and expiry is None
    return abs(key.expired_at - expiry) < timedelta(seconds=1)


async def _finish(
    db: Database, request: KeyChangeRequest, result: KeyChangeResult
) -> KeyChangeResult:
    """The audit row, and the bot's record of a pause kept in step with the outcome, in one
    transaction; a database that does not answer leaves the result standing, marked."""
    drop_pause = (result.wrote_pause and not result.uncertain and result.outcome != "changed") or (
        request.action == "key_resume" and result.outcome in {"changed", "unchanged"}
    )

    async def write(session: AsyncSession) -> None:
        if drop_pause:
            await session.execute(
                delete(KeyPause).where(
                    KeyPause.team_id == request.team_id, KeyPause.key_id == request.key_id
                )
            )
        detail = result.reason or ("may have been applied" if result.uncertain else None)
        await _audit(
            session,
            request,
            result.outcome,
            detail,
            _described(request, result.before),
            _described(request, result.after),
            result.error,
        )

    try:
        await db.run(write)
    except DatabaseUnavailable as exc:
        logger.error(
            "Key change %s for team=%s key=%s ended %s but was not audited: %s",
            request.action,
            request.team_id,
            request.key_id,
            result.outcome,
            exc,
        )
        return replace(result, audit_missing=True)
    return result


async def _pause_of(db: Database, team_id: str, key_id: str) -> Pause | None:
    """The bot's pause of the key, if it paused it."""
    query = select(KeyPause.previous_expired_at).where(
        KeyPause.team_id == team_id, KeyPause.key_id == key_id
    )

    async def read(session: AsyncSession) -> Pause | None:
        row = (await session.execute(query)).first()
        return None if row is None else Pause(previous_expiry=row[0])

    return await db.run(read)


async def _save_pause(db: Database, request: KeyChangeRequest, key: ApiKey, now: datetime) -> None:
    """Remember the expiry a key had before the bot pauses it: saved before the change is sent,
    so that a pause is never made without what undoes it."""

    async def save(session: AsyncSession) -> None:
        await ensure_workspace(session, db, request.team_id)
        await session.execute(
            delete(KeyPause).where(KeyPause.team_id == request.team_id, KeyPause.key_id == key.id)
        )
        session.add(
            KeyPause(
                team_id=request.team_id,
                key_id=key.id,
                application_id=request.application_id,
                key_name=key.name[:100] if key.name else None,
                previous_expired_at=key.expired_at,
                paused_by=request.user_id,
                paused_at=now,
            )
        )

    await db.run(save, changes=True)


def _find(keys: list[ApiKey], key_id: str) -> ApiKey | None:
    return next((key for key in keys if key.id == key_id), None)


def _iso(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
