"""Rendering a channel's digest from its entries (`services.digests.entries`) and posting it:
the Slack side of `services.digests.deliver`, and `/quota digest now`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...acedata import AceDataError, Application
from ...db.models import utcnow
from ...runtime import Runtime
from ...services import digests
from ...services.delivery import Posted
from ...services.rounds import Round
from ...services.usage import period_bounds
from .. import blocks
from ..api_errors import is_transient, slack_error
from ..blocks.digest import DigestLine, DigestMessage, digest_messages
from .direct import direct_message

logger = logging.getLogger(__name__)


async def compose(
    runtime: Runtime,
    *,
    team_id: str,
    channel_id: str,
    title: str,
    zone: ZoneInfo,
    now: datetime,
    late_slot: datetime | None = None,
    since: datetime | None = None,
    round_: Round | None = None,
) -> list[DigestMessage]:
    """The digest of every alias visible in the channel, as messages to post."""
    found = await digests.entries(
        runtime.db,
        round_ or Round(runtime.acedata, runtime.db),
        team_id=team_id,
        channel_id=channel_id,
        fallback_token=runtime.fallback_token,
        since=since,
        today=period_bounds("today", zone, now),
    )
    lines = [_line(entry) for entry in found]
    return digest_messages(
        lines,
        title=title,
        now=now,
        zone=zone,
        late_slot=late_slot,
        global_balance=_any_global_balance(lines),
        console=runtime.settings.console,
    )


async def compose_now(
    runtime: Runtime, *, team_id: str, channel_id: str, message_ts: str | None = None
) -> list[DigestMessage]:
    """The channel's digest as of now, under its schedule's title and zone (UTC without one):
    `/quota digest now`, and a digest updated after one of its buttons (`message_ts`: the
    digest as sent keeps its "sent late" marker and its change since the digest before; reads
    made for other refreshes in the last half minute are shared)."""
    found = await digests.channel_schedule(runtime.db, team_id=team_id, channel_id=channel_id)
    schedule = found[0].schedule if found else None
    posted = None
    if message_ts is not None:
        posted = await digests.posted_digest(
            runtime.db, team_id=team_id, channel_id=channel_id, message_ts=message_ts
        )
    return await compose(
        runtime,
        team_id=team_id,
        channel_id=channel_id,
        title=schedule.describe() if schedule else "Quota digest",
        zone=schedule.zone if schedule else ZoneInfo("UTC"),
        now=utcnow(),
        late_slot=posted.slot if posted is not None and posted.late else None,
        since=posted.since if posted is not None else None,
        round_=runtime.shared_round() if message_ts is not None else None,
    )


def _line(entry: digests.DigestEntry) -> DigestLine:
    problem = None
    if isinstance(entry.error, AceDataError):
        problem = blocks.upstream_problem(
            entry.error, application_id=entry.application_id, alias=entry.alias
        )
    elif entry.error is not None:
        problem = blocks.failure_text(entry.error)
    snapshot = entry.snapshot
    return DigestLine(
        entry.alias,
        entry.application_id,
        snapshot,
        problem,
        entry.change,
        snapshot.forecast if snapshot else None,
        entry.top,
    )


def _any_global_balance(lines: list[DigestLine]) -> Application | None:
    for line in lines:
        if line.snapshot is not None and line.snapshot.global_balance is not None:
            return line.snapshot.global_balance
    return None


async def post(
    client: AsyncWebClient,
    channel_id: str,
    messages: list[DigestMessage],
    *,
    posted: Callable[[str], Awaitable[None]] | None = None,
    resume: Posted | None = None,
) -> Posted:
    """Post the digest (the rest in its thread): the first message's ts once it is posted, how
    many messages Slack took, and Slack's error if any part was refused. `posted` hears of the
    first message at once. `resume`: a post cut short, whose thread is continued."""
    ts = resume.ts if resume is not None else None
    parts = resume.parts if resume is not None else 0
    try:
        if ts is None:
            first = await client.chat_postMessage(
                channel=channel_id, text=messages[0].text, blocks=messages[0].blocks
            )
            ts, parts = str(first["ts"]), 1
            if posted is not None:
                await posted(ts)
        for message in messages[parts:]:
            await client.chat_postMessage(
                channel=channel_id, thread_ts=ts, text=message.text, blocks=message.blocks
            )
            parts += 1
    except SlackApiError as exc:
        error = slack_error(exc)
    except (aiohttp.ClientError, TimeoutError) as exc:
        error = type(exc).__name__[:64]
    else:
        return Posted(ts, parts=parts)
    return Posted(ts, error, retry=is_transient(error), parts=parts)


ClientFor = Callable[[str], Awaitable[AsyncWebClient | None]]


def sender(
    runtime: Runtime, client_for: ClientFor, round_: Round, *, now: datetime
) -> digests.Send:
    """How a round's digests are sent: each workspace's own bot token, the channel's aliases
    read through `round_`, composed as of `now`."""

    async def send(
        slot: digests.ClaimedSlot,
        posted: Callable[[str], Awaitable[None]],
        resume: Posted | None = None,
    ) -> Posted:
        setup = slot.setup
        client = await client_for(setup.team_id)
        if client is None:  # uninstalled, or its token could not be refreshed: not sent
            return Posted(None, "no_installation")
        messages = await compose(
            runtime,
            team_id=setup.team_id,
            channel_id=setup.channel_id,
            title=setup.schedule.describe(),
            zone=setup.schedule.zone,
            now=now,
            late_slot=slot.slot if slot.late else None,
            since=await digests.previous_delivery_time(runtime.db, slot),
            round_=round_,
        )
        return await post(client, setup.channel_id, messages, posted=posted, resume=resume)

    return send


def teller(client_for: ClientFor) -> digests.Tell:
    """How whoever set a digest is told it stopped: a direct message."""

    async def tell(setup: digests.DigestSetup, error: str) -> None:
        client = await client_for(setup.team_id)
        if client is not None:
            text = blocks.digest_paused(setup.channel_id, setup.schedule.describe(), error)
            await direct_message(client, setup.created_by, text)

    return tell
