"""`/quota alert <alias> spike [N]|off` (admins): watch an alias for a spend spike."""

from __future__ import annotations

from datetime import timedelta

from ....services import aliases, spikes
from ....services.clock import utcnow
from ...blocks.spike import spike_announced, spike_set
from ...blocks.spike import spike_off as spike_off_text
from ..context import CommandContext
from .grammar import SetSpike, SpikeOff


async def set_spike(context: CommandContext, request: SetSpike) -> None:
    await context.require_admin("set spike alerts")
    # The alias must be one this channel can see; the check follows it if it is re-linked.
    await aliases.resolve(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=request.alias,
    )
    settings = context.runtime.settings
    window = timedelta(seconds=settings.spike_window_seconds)
    saved = await context.announce_then_save(
        spike_announced(request.alias, request.factor, window),
        lambda: spikes.set_spike(
            context.runtime.db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            alias=request.alias,
            factor=request.factor,
            now=utcnow(),
            user_id=context.user_id,
        ),
    )
    if not saved:
        return
    await context.say_privately(
        spike_set(request.alias, request.factor, settings.alert_check_seconds)
    )


async def spike_off(context: CommandContext, request: SpikeOff) -> None:
    await context.require_admin("remove spike alerts")
    removed = await spikes.remove_spike(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        alias=request.alias,
        user_id=context.user_id,
    )
    await context.say_privately(spike_off_text(request.alias, removed))
