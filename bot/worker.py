"""The scheduler loop: due digests, alert checks, and thinning the quota history. Run by
`quota-bot worker`, or inside `quota-bot serve` when SCHEDULER_IN_WEB says so. Any number can
run at once: every digest slot and alert check is claimed in the database first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .db.database import DatabaseUnavailable
from .db.models import utcnow
from .runtime import Runtime
from .services import alerts, digests, history
from .services.errors import NoTokenConfigured
from .services.rounds import Round
from .slack import blocks
from .slack.api_errors import slack_error
from .slack.blocks.alert import alert_message, recovered_message
from .slack.install.tokens import SlackAccess
from .slack.outbound.digests import compose, post

logger = logging.getLogger(__name__)

DELIVERY_CONCURRENCY = 8
CHECK_CONCURRENCY = 16
PRUNE_EVERY = timedelta(hours=1)


async def run_scheduler(runtime: Runtime, access: SlackAccess, *, stop: asyncio.Event) -> None:
    """Digests and alert checks, each in its own loop so neither waits on the other, every
    WORKER_POLL_SECONDS until `stop` is set; one failed round never ends a loop. Each
    workspace's messages go out with its own bot token (`access`)."""
    logger.info("Scheduler running (every %g s)", runtime.settings.worker_poll_seconds)
    pruned_at: datetime | None = None

    async def digests_and_history(now: datetime) -> None:
        nonlocal pruned_at
        await digest_round(runtime, access, now=now)
        if pruned_at is None or now - pruned_at >= PRUNE_EVERY:
            pruned_at = now  # tried once an hour, whether or not it succeeds
            logger.info("Pruned %d old quota readings", await history.prune(runtime.db))

    async def alerts_(now: datetime) -> None:
        await alert_round(runtime, access, now=now)

    await asyncio.gather(
        _loop(runtime, "digests", digests_and_history, stop),
        _loop(runtime, "alerts", alerts_, stop),
    )


async def _loop(
    runtime: Runtime,
    name: str,
    work: Callable[[datetime], Awaitable[None]],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            async with runtime.tracked():
                await work(utcnow())
        except DatabaseUnavailable as exc:
            logger.warning(
                "Scheduler round (%s) skipped, the database is unavailable: %s", name, exc
            )
        except Exception:
            logger.exception("Scheduler round (%s) failed", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), runtime.settings.worker_poll_seconds)


async def digest_round(runtime: Runtime, access: SlackAccess, *, now: datetime) -> int:
    """Send every digest due at `now` that no other worker has claimed, a batch of claims at a
    time until none is left; how many were claimed."""
    round_ = Round(runtime.acedata, runtime.db)
    client_for = _per_team(access)
    loop = asyncio.get_running_loop()
    started = loop.time()

    def clock() -> datetime:
        """The round's time, moving on as the round goes (leases are renewed with it)."""
        return now + timedelta(seconds=loop.time() - started)

    limit = asyncio.Semaphore(DELIVERY_CONCURRENCY)

    async def deliver(slot: digests.ClaimedSlot) -> None:
        async with limit:
            try:
                await deliver_slot(runtime, client_for, slot, round_, now=now, clock=clock)
            except Exception:  # one channel's trouble never stops the others
                logger.exception("Digest for channel=%s failed", slot.setup.channel_id)

    claimed = 0
    while slots := await digests.claim_due(runtime.db, now=clock() if claimed else now):
        logger.info("Sending %d digest(s)", len(slots))
        await asyncio.gather(*(deliver(slot) for slot in slots))
        claimed += len(slots)
    return claimed


def _per_team(access: SlackAccess) -> Callable[[str], Awaitable[AsyncWebClient | None]]:
    """Each workspace's Slack client, looked up once per round."""
    clients: dict[str, asyncio.Task[AsyncWebClient | None]] = {}

    def client_for(team_id: str) -> asyncio.Task[AsyncWebClient | None]:
        if team_id not in clients:
            clients[team_id] = asyncio.ensure_future(access.client_for(team_id))
        return clients[team_id]

    return client_for


async def deliver_slot(
    runtime: Runtime,
    client_for: Callable[[str], Awaitable[AsyncWebClient | None]],
    slot: digests.ClaimedSlot,
    round_: Round,
    *,
    now: datetime,
    clock: Callable[[], datetime],
) -> None:
    """Compose, post and record one claimed slot. A slot left unrecorded (the database failed)
    is claimed again after its lease."""
    setup = slot.setup
    where = f"team={setup.team_id} channel={setup.channel_id} slot={slot.slot.isoformat()}"
    client: AsyncWebClient | None = None
    try:
        if not await digests.start(runtime.db, slot, now=clock()):
            logger.info("Digest %s was taken over by another worker", where)
            return
        client = await client_for(setup.team_id)
        if client is None:  # uninstalled, or its token could not be refreshed: not sent
            await _finish(runtime, slot, None, "no_installation", where)
            return
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

        async def posted(ts: str) -> None:
            try:
                await digests.mark_posted(runtime.db, slot, ts)
            except DatabaseUnavailable as exc:  # the outcome, ts included, is recorded below
                logger.warning("Digest %s posted but not yet marked: %s", where, exc)

        ts, error = await post(client, setup.channel_id, messages, posted=posted)
    except DatabaseUnavailable as exc:
        logger.warning("Digest %s waits for the database: %s", where, exc)
        return
    except Exception:
        logger.exception("Digest %s failed", where)
        ts, error = None, "internal_error"
    await _finish(runtime, slot, ts, error, where)
    if error is None:
        logger.info("Digest %s sent", where)
        return
    logger.warning("Digest %s: Slack said %s", where, error)
    if digests.pause_reason(error) == error and client is not None:  # the channel is gone
        await _tell_who_set_it(client, setup, error)


async def _finish(
    runtime: Runtime,
    slot: digests.ClaimedSlot,
    ts: str | None,
    error: str | None,
    where: str,
) -> None:
    """Record the outcome, trying a little harder than usual: an unrecorded slot without its
    message ts would be sent again after its lease."""
    for attempt in range(3):
        try:
            await digests.finish(
                runtime.db,
                slot,
                # When it was sent, as the readings are timed: "change since the last digest".
                now=utcnow(),
                outcome="sent" if ts else "failed",
                message_ts=ts,
                slack_error=error,
            )
            return
        except DatabaseUnavailable as exc:
            logger.warning("Digest %s outcome not recorded (try %d): %s", where, attempt + 1, exc)
            await asyncio.sleep(runtime.settings.retry_backoff_seconds * 2**attempt)


async def _tell_who_set_it(client: AsyncWebClient, setup: digests.DigestSetup, error: str) -> None:
    await _direct_message(
        client,
        setup.created_by,
        blocks.digest_paused(setup.channel_id, setup.schedule.describe(), error),
    )


async def _direct_message(client: AsyncWebClient, user_id: str, text: str) -> None:
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except Exception as exc:
        logger.warning(
            "Could not send a direct message to user=%s: %s", user_id, type(exc).__name__
        )


async def alert_round(runtime: Runtime, access: SlackAccess, *, now: datetime) -> int:
    """Check every alert due at `now`: one read per application and token, whatever the number
    of channels watching it. How many were checked."""
    every = timedelta(seconds=runtime.settings.alert_check_seconds)
    watches = await alerts.claim_due(runtime.db, now=now, every=every)
    if not watches:
        return 0
    round_ = Round(runtime.acedata, runtime.db)
    client_for = _per_team(access)

    def token_for(team_id: str) -> asyncio.Task[str]:
        return round_.token(team_id, runtime.fallback_token)

    limit = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def check(watch: alerts.Watch) -> None:
        async with limit:
            try:
                client = await client_for(watch.team_id)
                if client is None:
                    logger.warning("Alert check team=%s skipped: no installation", watch.team_id)
                    return
                await check_watch(runtime, client, watch, round_, token_for, now=now)
            except Exception:  # one channel's trouble never stops the others
                logger.exception("Alert check for channel=%s failed", watch.channel_id)

    await asyncio.gather(*(check(watch) for watch in watches))
    return len(watches)


async def check_watch(
    runtime: Runtime,
    client: AsyncWebClient,
    watch: alerts.Watch,
    round_: Round,
    token_for: Callable[[str], Awaitable[str]],
    *,
    now: datetime,
) -> None:
    """Read the watched alias, decide, and tell the channel if it got worse (or came back).
    A check that cannot read or post leaves the state as it was, to be tried next time."""
    where = f"team={watch.team_id} channel={watch.channel_id} alias={watch.alias}"
    try:
        token = await token_for(watch.team_id)
        check = await alerts.evaluate(runtime.db, round_, watch, token=token, now=now)
    except (alerts.CheckSkipped, NoTokenConfigured, DatabaseUnavailable) as exc:
        logger.warning("Alert check %s skipped: %s", where, exc)
        return
    decision, snapshot = check.decision, check.snapshot
    message = None
    if decision.post is not None:
        message = alert_message(watch.alias, decision.post, snapshot, watch.threshold)
    elif decision.recovered:
        message = recovered_message(watch.alias, snapshot)
    if message is not None:
        try:
            await client.chat_postMessage(
                channel=watch.channel_id, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            logger.warning("Alert %s not posted: Slack said %s", where, error)
            reason = digests.pause_reason(error)
            if reason is not None:
                await alerts.save_state(runtime.db, watch, watch.state, paused_reason=reason)
            if reason == error:  # the channel is gone, not the workspace's token
                await _direct_message(
                    client,
                    watch.created_by,
                    blocks.alert_paused(watch.channel_id, watch.alias, error),
                )
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("Alert %s not posted: %s", where, type(exc).__name__)
            return
        told = decision.post.name.lower() if decision.post is not None else "recovered"
        logger.info("Alert %s: told the channel (%s)", where, told)
    await alerts.save_state(runtime.db, watch, decision.state)
