"""The Snooze buttons on alert messages. Anyone in the channel may snooze its alert; getting
worse than the snoozed level still alerts."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from ....services.alerts import snooze_alert
from ....services.clock import utcnow
from ... import ids
from ...blocks.alert import snooze_gone, snoozed
from ..context import PressContext
from ..pipeline import button, press_context


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(re.compile(rf"^{ids.SNOOZE_ACTION}:\w+$"))(button(runtime, press_context, snooze))


async def snooze(context: PressContext) -> None:
    choice = ids.decode_snooze(context.value)
    context.require_replay_checked()
    watch = await snooze_alert(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        alias=choice.alias,
        choice=choice.snooze,
        now=utcnow(),
    )
    if watch is None:
        await context.say_privately(snooze_gone(choice.alias))
        return
    await context.say_privately(snoozed(context.user_id, choice.alias, choice.snooze))
