"""`/quota digest`: show, set, stop, or send now the channel's scheduled digest."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from ....services import aliases, digests
from ....services.backfill import backfill_all
from ....services.clock import utcnow
from ....services.schedules import Schedule
from ... import blocks
from ...outbound.digests import compose_now, post
from ..context import CommandContext
from .grammar import DigestNow, DigestOff, SetDigest, ShowDigest

logger = logging.getLogger(__name__)


async def show_digest(context: CommandContext, _: ShowDigest) -> None:
    found = await digests.channel_schedule(
        context.runtime.db, team_id=context.team_id, channel_id=context.channel_id
    )
    warning = await context.scheduler_warning()
    if found is None:
        await context.say_privately(blocks.with_warning(warning, blocks.NO_DIGEST))
        return
    setup, last = found
    await context.say_privately(blocks.with_warning(warning, blocks.digest_status(setup, last)))


async def set_digest(context: CommandContext, request: SetDigest) -> None:
    await context.require_admin("schedule digests")
    zone = ZoneInfo(request.zone) if request.zone else await context.users_zone()
    zone = zone or ZoneInfo("UTC")
    schedule = Schedule(request.kind, request.at, zone, request.weekday)
    now = utcnow()
    first = schedule.next_run(now)
    saved = await context.announce_then_save(
        blocks.digest_confirmation(schedule, first),
        lambda: digests.set_schedule(
            context.runtime.db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            schedule=schedule,
            now=now,
            user_id=context.user_id,
        ),
    )
    if not saved:
        return
    await context.say_privately(blocks.digest_set(schedule, first))
    # After the reply: a history for what the digest will show, where the bot has hardly any.
    await backfill_history(context)


async def backfill_history(
    context: CommandContext, application_ids: Iterable[str] | None = None
) -> None:
    """Backfill the history of the applications a digest or alert was just set up for (None:
    every alias visible in the channel) where it is sparse. Never fails the setup: every
    problem is only logged."""
    try:
        if application_ids is None:
            visible = await aliases.visible_aliases(
                context.runtime.db, team_id=context.team_id, channel_id=context.channel_id
            )
            application_ids = [alias.application_id for alias in visible]
        token = await context.token()
        added = await backfill_all(
            context.runtime.acedata,
            context.runtime.db,
            token,
            team_id=context.team_id,
            application_ids=application_ids,
        )
    except Exception as exc:
        if blocks.failure_text(exc) is None:
            logger.exception("History backfill failed %s", context.log_context())
        else:
            logger.info("No history backfill %s: %s", context.log_context(), exc)
        return
    if added:
        logger.info("History backfill stored %d readings %s", added, context.log_context())


async def digest_off(context: CommandContext, _: DigestOff) -> None:
    await context.require_admin("stop digests")
    removed = await digests.remove_schedule(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        user_id=context.user_id,
    )
    await context.say_privately(blocks.DIGEST_OFF if removed else blocks.NO_DIGEST)


async def digest_now(context: CommandContext, _: DigestNow) -> None:
    await context.require_admin("send a digest")
    messages = await compose_now(
        context.runtime, team_id=context.team_id, channel_id=context.channel_id
    )
    posted = await post(context.client, context.channel_id, messages)
    if posted.error is not None:
        await context.say_privately(blocks.digest_not_posted(posted.error))
