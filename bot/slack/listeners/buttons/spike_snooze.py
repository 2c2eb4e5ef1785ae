"""The Snooze buttons on spike alerts. Anyone who can see the alias in the channel may snooze
its spike alert: no new spike is posted there until the snooze is over."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from ....services import aliases
from ....services.clock import utcnow
from ....services.errors import AliasNotFound
from ....services.spikes import snooze_spike
from ... import ids
from ...blocks.spike import spike_snooze_gone, spike_snooze_not_visible, spike_snoozed
from ..context import PressContext
from ..pipeline import button, press_context


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(re.compile(rf"^{ids.SPIKE_SNOOZE_ACTION}:\w+$"))(
        button(runtime, press_context, snooze)
    )


async def snooze(context: PressContext) -> None:
    choice = ids.decode_spike_snooze(context.value)
    context.require_replay_checked()
    # Only someone who can see the alias here: a value forged for another channel changes nothing.
    try:
        await aliases.resolve(
            context.runtime.db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            name=choice.alias,
        )
    except AliasNotFound:
        await context.say_privately(spike_snooze_not_visible(choice.alias))
        return
    watch = await snooze_spike(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        alias=choice.alias,
        choice=choice.snooze,
        now=utcnow(),
    )
    if watch is None:
        await context.say_privately(spike_snooze_gone(choice.alias))
        return
    await context.say_privately(spike_snoozed(context.user_id, choice.alias, choice.snooze))
