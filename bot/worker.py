"""The scheduler loop: due digests, alert checks, and thinning the quota history. Run by
`quota-bot worker`, or inside `quota-bot serve` when SCHEDULER_IN_WEB says so. Any number can
run at once: every digest slot and alert check is claimed in the database first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from . import metrics
from .runtime import Runtime
from .services import (
    alerts,
    approvals,
    digests,
    fallback_timers,
    heartbeats,
    history,
    spikes,
    timed_fallback,
)
from .services.clock import utcnow
from .services.errors import DatabaseUnavailable
from .services.rounds import READ_DEADLINE, Round
from .services.workspaces import platform_token
from .slack.install.tokens import SlackAccess
from .slack.outbound import alerts as outbound_alerts
from .slack.outbound import approvals as outbound_approvals
from .slack.outbound import digests as outbound_digests
from .slack.outbound import spikes as outbound_spikes

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
        await digest_round(runtime, access, now=now, stop=stop)
        if pruned_at is None or now - pruned_at >= PRUNE_EVERY:
            pruned_at = now  # tried once an hour, whether or not it succeeds
            logger.info("Pruned %d old quota readings", await history.prune(runtime.db))

    async def alerts_(now: datetime) -> None:
        await alert_round(runtime, access, now=now)

    async def guard_rails(now: datetime) -> None:
        await guard_round(runtime, access, now=now)

    await asyncio.gather(
        _loop(runtime, "digests", digests_and_history, stop),
        _loop(runtime, "alerts", alerts_, stop),
        _loop(runtime, "guard rails", guard_rails, stop),
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
                now = utcnow()
                await heartbeats.beat(runtime.db, now=now)  # the health check's sign of life
                await work(now)
            metrics.SCHEDULER_LAST_ROUND.labels(name).set_to_current_time()
        except DatabaseUnavailable as exc:
            logger.warning(
                "Scheduler round (%s) skipped, the database is unavailable: %s", name, exc
            )
        except Exception:
            logger.exception("Scheduler round (%s) failed", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), runtime.settings.worker_poll_seconds)


async def digest_round(
    runtime: Runtime, access: SlackAccess, *, now: datetime, stop: asyncio.Event | None = None
) -> int:
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

    lease = timedelta(seconds=runtime.settings.digest_lease_seconds)
    how = digests.Delivery(
        send=outbound_digests.sender(runtime, client_for, round_, now=now),
        tell=outbound_digests.teller(client_for),
        clock=clock,
        backoff=runtime.settings.retry_backoff_seconds,
        lease=lease,
        stopping=stop.is_set if stop is not None else lambda: False,
    )

    async def deliver(slot: digests.ClaimedSlot) -> None:
        async with limit:
            try:
                await digests.deliver(runtime.db, slot, how)
            except Exception:  # one channel's trouble never stops the others
                logger.exception("Digest for channel=%s failed", slot.setup.channel_id)

    claimed = 0
    while slots := await digests.claim_due(
        runtime.db, now=clock() if claimed else now, lease=lease
    ):
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


async def alert_round(runtime: Runtime, access: SlackAccess, *, now: datetime) -> int:
    """Check every alert and spike watch due at `now`: one read per application and token,
    whatever the number of channels watching it. How many were checked."""
    every = timedelta(seconds=runtime.settings.alert_check_seconds)
    watches = await alerts.claim_due(runtime.db, now=now, every=every)
    spike_watches = await spikes.claim_due(runtime.db, now=now, every=every)
    if not watches and not spike_watches:
        return 0
    round_ = Round(runtime.acedata, runtime.db)
    client_for = _per_team(access)

    def token_for(team_id: str) -> asyncio.Task[str]:
        return round_.token(team_id, runtime.fallback_token)

    limit = asyncio.Semaphore(CHECK_CONCURRENCY)
    console = runtime.settings.console

    async def check(watch: alerts.Watch) -> None:
        async with limit:
            try:
                client = await client_for(watch.team_id)
                if client is None:
                    logger.warning("Alert check team=%s skipped: no installation", watch.team_id)
                    return
                await alerts.check(
                    runtime.db,
                    round_,
                    watch,
                    outbound_alerts.notifier(client, console),
                    token=token_for,
                    tell=outbound_alerts.teller(client),
                    now=now,
                    update=outbound_alerts.updater(client, console),
                )
            except Exception:  # one channel's trouble never stops the others
                logger.exception("Alert check for channel=%s failed", watch.channel_id)

    check_spike = _spike_checker(runtime, round_, client_for, token_for, limit, now=now)
    await asyncio.gather(
        *(check(watch) for watch in watches), *(check_spike(watch) for watch in spike_watches)
    )
    return len(watches) + len(spike_watches)


def _spike_checker(
    runtime: Runtime,
    round_: Round,
    client_for: Callable[[str], Awaitable[AsyncWebClient | None]],
    token_for: Callable[[str], Awaitable[str]],
    limit: asyncio.Semaphore,
    *,
    now: datetime,
) -> Callable[[spikes.SpikeWatch], Awaitable[None]]:
    """How an alert round checks a spike watch: through the round's reads (and its own cache of
    the usage aggregate), with the workspace's own Slack client."""
    spike_round = spikes.SpikeRound(round_)
    window = timedelta(seconds=runtime.settings.spike_window_seconds)
    console = runtime.settings.console

    async def check_spike(watch: spikes.SpikeWatch) -> None:
        async with limit:
            try:
                client = await client_for(watch.team_id)
                if client is None:
                    logger.warning("Spike check team=%s skipped: no installation", watch.team_id)
                    return
                how = spikes.SpikeCheck(
                    spike_round=spike_round,
                    notify=outbound_spikes.notifier(client, console),
                    token=token_for,
                    tell=outbound_spikes.teller(client),
                    window=window,
                )
                await spikes.check(runtime.db, how, watch, now=now)
            except Exception:  # one channel's trouble never stops the others
                logger.exception("Spike check for channel=%s failed", watch.channel_id)

    return check_spike


async def guard_round(runtime: Runtime, access: SlackAccess, *, now: datetime) -> int:
    """Expire the approval requests nobody decided in time, and switch back the timed
    fallbacks whose time is up: each claimed once across workers. How many were handled."""
    client_for = _per_team(access)
    expired = await approvals.claim_expired(runtime.db, now=now)
    for request in expired:
        try:
            client = await client_for(request.team_id)
            await outbound_approvals.tell_expired(runtime, client, request)
        except Exception:  # one request's trouble never stops the others
            logger.exception("Expiring request %s failed", request.id)

    async def token_for(team_id: str) -> str:
        return await platform_token(runtime.db, team_id, runtime.fallback_token)

    timers = await fallback_timers.claim_due(runtime.db, now=now)
    for timer in timers:
        try:
            await timed_fallback.switch_back(
                runtime.acedata,
                runtime.db,
                timer,
                token_for=token_for,
                say=outbound_approvals.switched_back_teller(await client_for(timer.team_id)),
                deadline=READ_DEADLINE,
                lock_wait=runtime.settings.fallback_lock_wait,
            )
        except Exception:
            logger.exception("Timed fallback for application=%s failed", timer.application_id)
    return len(expired) + len(timers)
