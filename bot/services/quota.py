"""Reading an application's quota together with the account's global balance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, localcontext

from ..acedata import AceDataClient, AceDataError, Application
from ..db.models import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuotaSnapshot:
    """One application's quota as read at `as_of`; `global_balance` None if it was unreadable."""

    application: Application
    global_balance: Application | None
    as_of: datetime

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
    client: AceDataClient, token: str, application_id: str, *, deadline: float
) -> QuotaSnapshot:
    """The application (errors propagate) and, alongside, the global balance (best effort)."""
    global_balance = asyncio.create_task(_global_balance_or_none(client, token, deadline=deadline))
    try:
        application = await client.get_application(token, application_id, deadline=deadline)
    except BaseException:
        global_balance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await global_balance
        raise
    return QuotaSnapshot(application, await global_balance, utcnow())


async def _global_balance_or_none(
    client: AceDataClient, token: str, *, deadline: float
) -> Application | None:
    try:
        return await client.get_global_balance(token, deadline=deadline)
    except AceDataError as exc:
        logger.warning("Global balance unavailable: %s", exc)
        return None
