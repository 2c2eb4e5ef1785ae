"""`/quota alert`: watch an alias in this channel, stop watching it, or list what is watched."""

from __future__ import annotations

import logging

from ....services import alerts, aliases, spikes
from ....services.clock import utcnow
from ... import blocks
from ...blocks.alert import alert_announced, alert_list, alert_removed, alert_set
from ..context import CommandContext
from .digests import backfill_history
from .grammar import AlertOff, ListAlerts, SetAlert

logger = logging.getLogger(__name__)


async def list_alerts(context: CommandContext, _: ListAlerts) -> None:
    where = {"team_id": context.team_id, "channel_id": context.channel_id}
    watches = await alerts.channel_alerts(context.runtime.db, **where)
    spike_watches = await spikes.channel_spikes(context.runtime.db, **where)
    warning = await context.scheduler_warning()
    listing = alert_list(watches, utcnow(), spike_watches)
    await context.say_privately(blocks.with_warning(warning, listing))


async def set_alert(context: CommandContext, request: SetAlert) -> None:
    await context.require_admin("set alerts")
    # The alias must be one this channel can see; the check follows it if it is re-linked.
    alias = await aliases.resolve(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=request.alias,
    )
    saved = await context.announce_then_save(
        alert_announced(request.alias, request.threshold),
        lambda: alerts.set_alert(
            context.runtime.db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            alias=request.alias,
            threshold=request.threshold,
            now=utcnow(),
            user_id=context.user_id,
        ),
    )
    if not saved:
        return
    await context.say_privately(
        alert_set(request.alias, request.threshold, context.runtime.settings.alert_check_seconds)
    )
    # After the reply: a history for the alert's forecast, where the bot has hardly any.
    await backfill_history(context, [alias.application_id])


async def alert_off(context: CommandContext, request: AlertOff) -> None:
    await context.require_admin("remove alerts")
    removed = await alerts.remove_alert(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        alias=request.alias,
        user_id=context.user_id,
    )
    await context.say_privately(alert_removed(request.alias, removed))
