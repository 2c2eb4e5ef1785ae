"""The scheduler loop: due digests, and thinning the quota history. Run by `quota-bot worker`,
or inside `quota-bot serve` when SCHEDULER_IN_WEB says so. Any number can run at once: every
slot is claimed in the database before it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from .db.database import DatabaseUnavailable
from .db.models import utcnow
from .runtime import Runtime
from .services import digests, history
from .slack import blocks
from .slack.digests import Round, compose, post

logger = logging.getLogger(__name__)

DELIVERY_CONCURRENCY = 8
PRUNE_EVERY = timedelta(hours=1)


async def run_scheduler(runtime: Runtime, *, stop: asyncio.Event) -> None:
    """Rounds every WORKER_POLL_SECONDS until `stop` is set; one failed round never ends it."""
    client = runtime.web_client(runtime.bot_token)
    pruned_at: datetime | None = None
    logger.info("Scheduler running (every %g s)", runtime.settings.worker_poll_seconds)
    while not stop.is_set():
        now = utcnow()
        try:
            async with runtime.tracked():
                await digest_round(runtime, client, now=now)
                if pruned_at is None or now - pruned_at >= PRUNE_EVERY:
                    gone = await history.prune(runtime.db)
                    pruned_at = now
                    logger.info("Pruned %d old quota readings", gone)
        except DatabaseUnavailable as exc:
            logger.warning("Scheduler round skipped, the database is unavailable: %s", exc)
        except Exception:
            logger.exception("Scheduler round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), runtime.settings.worker_poll_seconds)


async def digest_round(runtime: Runtime, client: AsyncWebClient, *, now: datetime) -> int:
    """Send every digest due at `now` that no other worker has claimed; how many were claimed."""
    slots = await digests.claim_due(runtime.db, now=now)
    if not slots:
        return 0
    logger.info("Sending %d digest(s)", len(slots))
    round_ = Round()
    limit = asyncio.Semaphore(DELIVERY_CONCURRENCY)

    async def deliver(slot: digests.ClaimedSlot) -> None:
        async with limit:
            await deliver_slot(runtime, client, slot, round_, now=now)

    await asyncio.gather(*(deliver(slot) for slot in slots))
    return len(slots)


async def deliver_slot(
    runtime: Runtime,
    client: AsyncWebClient,
    slot: digests.ClaimedSlot,
    round_: Round,
    *,
    now: datetime,
) -> None:
    """Compose, post and record one claimed slot. A slot left unrecorded (the database failed)
    is claimed again after its lease."""
    setup = slot.setup
    where = f"team={setup.team_id} channel={setup.channel_id} slot={slot.slot.isoformat()}"
    try:
        since = await digests.previous_delivery_time(runtime.db, slot)
        messages = await compose(
            runtime,
            team_id=setup.team_id,
            channel_id=setup.channel_id,
            title=setup.schedule.describe(),
            zone=setup.schedule.zone,
            now=now,
            late_slot=slot.slot if slot.late else None,
            since=since,
            round_=round_,
        )
        ts, error = await post(client, setup.channel_id, messages)
    except DatabaseUnavailable as exc:
        logger.warning("Digest %s waits for the database: %s", where, exc)
        return
    except Exception:
        logger.exception("Digest %s failed", where)
        ts, error = None, "internal_error"
    await digests.finish(
        runtime.db,
        slot,
        now=utcnow(),
        outcome="sent" if ts else "failed",
        message_ts=ts,
        slack_error=error,
    )
    if error is None:
        logger.info("Digest %s sent", where)
        return
    logger.warning("Digest %s: Slack said %s", where, error)
    if error in digests.CHANNEL_GONE:
        await _tell_who_set_it(client, setup, error)


async def _tell_who_set_it(client: AsyncWebClient, setup: digests.DigestSetup, error: str) -> None:
    try:
        await client.chat_postMessage(
            channel=setup.created_by,
            text=blocks.digest_paused(setup.channel_id, setup.schedule.describe(), error),
        )
    except Exception as exc:
        logger.warning(
            "Could not tell user=%s that the digest in %s is paused: %s",
            setup.created_by,
            setup.channel_id,
            type(exc).__name__,
        )
