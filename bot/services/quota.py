"""Reading an application's quota together with the account's global balance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Context, Decimal, localcontext

from ..acedata import AceDataClient, AceDataError, Application
from ..db.database import Database, DatabaseUnavailable
from ..db.models import utcnow
from .fallback_timers import off_at
from .forecast import Forecast, forecast
from .history import record_and_read

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuotaSnapshot:
    """One application's quota as read at `as_of`; `global_balance` None if it was unreadable."""

    application: Application
    global_balance: Application | None
    as_of: datetime
    forecast: Forecast | None = None
    # A timed global fallback: when it goes back off.
    fallback_until: datetime | None = None

    @property
    def percent_left(self) -> Decimal | None:
        """Remaining as a share of remaining plus used; None when that means nothing (an
        infinite or NaN amount, an overdrawn quota). Huge exponents give a non-finite result,
        never an error."""
        remaining, used = self.application.remaining_amount, self.application.used_amount
        if not (remaining.is_finite() and used.is_finite()) or remaining < 0:
            return None
        with localcontext(Context(prec=28, traps=[])):
            total = remaining + used
            if not total.is_finite() or total <= 0:
                return None
            return remaining * 100 / total


async def read_quota(
    client: AceDataClient,
    token: str,
    application_id: str,
    *,
    deadline: float,
    shared: bool = True,
) -> QuotaSnapshot:
    """The application (errors propagate) and, alongside, the global balance (best effort).
    `shared`: the application read may join an identical one in flight (not before a change)."""
    global_balance = asyncio.create_task(global_balance_or_none(client, token, deadline=deadline))
    try:
        application = await client.get_application(
            token, application_id, deadline=deadline, shared=shared
        )
    except BaseException:
        global_balance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await global_balance
        raise
    return QuotaSnapshot(application, await global_balance, utcnow())


async def observe_quota(
    client: AceDataClient,
    db: Database,
    token: str,
    *,
    team_id: str,
    application_id: str,
    deadline: float,
) -> QuotaSnapshot:
    """Read the quota (errors propagate), keep the reading, and forecast from the history."""
    snapshot = await read_quota(client, token, application_id, deadline=deadline)
    return await with_history(db, team_id, snapshot)


async def with_history(db: Database, team_id: str, snapshot: QuotaSnapshot) -> QuotaSnapshot:
    """`snapshot` stored as an observation and given its forecast; as it was if the database
    cannot help (history is a nicety, never a reason to fail a card)."""
    app = snapshot.application
    try:
        history = await record_and_read(db, team_id=team_id, application=app, at=snapshot.as_of)
    except DatabaseUnavailable as exc:
        logger.warning("Quota history unavailable for %s (team=%s): %s", app.id, team_id, exc)
        return snapshot
    outlook = forecast(
        history,
        now=snapshot.as_of,
        remaining=app.remaining_amount,
        fallback_on=bool(app.allow_consume_global),
        global_remaining=snapshot.global_balance.remaining_amount
        if snapshot.global_balance
        else None,
    )
    until = None
    if app.allow_consume_global:
        try:
            until = await off_at(db, team_id=team_id, application_id=app.id)
        except DatabaseUnavailable as exc:
            logger.warning("Fallback timer unavailable for %s (team=%s): %s", app.id, team_id, exc)
    return replace(snapshot, forecast=outlook, fallback_until=until)


async def global_balance_or_none(
    client: AceDataClient, token: str, *, deadline: float
) -> Application | None:
    try:
        return await client.get_global_balance(token, deadline=deadline)
    except AceDataError as exc:
        logger.warning("Global balance unavailable: %s", exc)
        return None
