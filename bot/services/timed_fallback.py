"""The worker's side of a timed fallback: switching it back off when its time is up, once
(see `fallback_timers` for the claim rules), and saying so where it was switched on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..acedata import AceDataClient
from ..db.database import Database
from .errors import NoTokenConfigured, TokenUnreadable
from .fallback import FallbackRequest, FallbackResult, set_global_fallback
from .fallback_timers import Timer, remove_claimed
from .locks import LockBusy

logger = logging.getLogger(__name__)

# How the thread is told: the timer that ran out, and what the switch back came to (None: it
# could not be made, there being no usable Ace Data Cloud token).
SaySwitchedBack = Callable[[Timer, FallbackResult | None], Awaitable[None]]
TokenFor = Callable[[str], Awaitable[str]]


async def switch_back(
    client: AceDataClient,
    db: Database,
    timer: Timer,
    *,
    token_for: TokenFor,
    say: SaySwitchedBack,
    deadline: float,
    lock_wait: float,
) -> FallbackResult | None:
    """Switch the claimed timer's fallback off, unless a person changed it since; what it came
    to. A failure that may pass (Ace Data Cloud unreachable, another change in flight) leaves
    the timer to be tried again when its lease ends; any other end removes it and is said."""
    try:
        token = await token_for(timer.team_id)
    except (NoTokenConfigured, TokenUnreadable) as exc:
        logger.warning("Timed fallback team=%s: no usable token (%s)", timer.team_id, exc)
        if await remove_claimed(db, timer):
            await say(timer, None)
        return None
    request = FallbackRequest(
        team_id=timer.team_id,
        user_id=timer.set_by,
        alias=timer.where.alias,
        application_id=timer.application_id,
        enable=False,
        switch_back=timer,
    )
    try:
        result = await set_global_fallback(
            client, db, token, request, deadline=deadline, lock_wait=lock_wait
        )
    except LockBusy:
        logger.info("Timed fallback %s: another change in flight, later", timer.application_id)
        return None
    if result.outcome == "cancelled":
        return result
    if result.outcome == "failed" and (result.error is None or not result.error.refused):
        logger.warning(
            "Timed fallback %s team=%s not switched back yet: %s",
            timer.application_id,
            timer.team_id,
            result.error,
        )
        return result
    if await remove_claimed(db, timer):
        await say(timer, result)
    return result
