"""`/quota alert`: watch an alias in this channel, stop watching it, or list what is watched."""

from __future__ import annotations

import logging

from ....services import alerts, aliases, spikes
from ....services.clock import utcnow
from ... import blocks
from ...blocks.alert import alert_list, threshold_text
from ...blocks.text import escape
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
    below = threshold_text(request.threshold)
    # Posting the confirmation first proves the bot may post here; if not, nothing is saved.
    confirmation = await context.announce(
        f":bell: This channel will be told when *{escape(request.alias)}* drops below "
        f"{below}, runs out within a day, or runs out."
    )
    if confirmation is None:
        return
    try:
        await alerts.set_alert(
            context.runtime.db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            alias=request.alias,
            threshold=request.threshold,
            now=utcnow(),
            user_id=context.user_id,
        )
    except Exception:
        await context.withdraw(confirmation)
        raise
    await context.say_privately(
        f":bell: Alert set: *{escape(request.alias)}* below {below}. It is checked every "
        f"{context.runtime.settings.alert_check_seconds:g} s; `/quota alert` lists this "
        "channel's alerts."
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
    name = escape(request.alias)
    await context.say_privately(
        f":no_bell: The alert on *{name}* in this channel is off."
        if removed
        else f":mag: There is no alert on *{name}* in this channel; nothing was changed."
    )
