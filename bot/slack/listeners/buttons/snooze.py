"""The Snooze buttons on alert messages. Anyone in the channel may snooze its alert; getting
worse than the snoozed level still alerts."""

from __future__ import annotations

import json
import logging
import re

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from ....db.models import utcnow
from ....runtime import Runtime
from ....services.alerts import SNOOZE_CHOICES, snooze_alert
from ....services.aliases import normalize_alias
from ....services.errors import ServiceError
from ... import blocks
from ...blocks.alert import SNOOZE_ACTION
from ...blocks.text import escape
from ...ingress.envelope import ButtonPress
from ...ingress.middleware import ENVELOPE, REPLAY_UNCHECKED, first_delivery
from ...outbound.response_url import ResponseUrl
from ..context import PressContext, common_failure_text

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(re.compile(rf"^{SNOOZE_ACTION}:\w+$"))
    async def snooze(ack: AsyncAck, context: AsyncBoltContext) -> None:
        await ack()
        press: ButtonPress = context[ENVELOPE]
        async with runtime.tracked():
            if press.channel_id and await first_delivery(context):
                await _snooze(
                    _context(runtime, context, press, press.channel_id), press.action.value
                )


def _context(
    runtime: Runtime, context: AsyncBoltContext, press: ButtonPress, channel_id: str
) -> PressContext:
    return PressContext(
        runtime=runtime,
        client=context.client,
        response_url=ResponseUrl.of(runtime, press.response_url),
        team_id=press.team.id,
        user_id=press.user.id,
        channel_id=channel_id,
        replay_unchecked=bool(context.get(REPLAY_UNCHECKED)),
    )


async def _snooze(context: PressContext, value: str | None) -> None:
    try:
        alias, choice = _read(value)
    except (ValueError, ServiceError):
        logger.warning("Unreadable snooze button %s", context.log_context())
        await context.say_privately(blocks.INVALID_BUTTON)
        return
    try:
        context.require_replay_checked()
        watch = await snooze_alert(
            context.runtime.db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            alias=alias,
            choice=choice,
            now=utcnow(),
        )
    except Exception as exc:
        text = common_failure_text(exc)
        if text is None:
            logger.exception("Snooze failed %s", context.log_context())
            text = blocks.INTERNAL_ERROR
        await context.say_privately(text)
        return
    name = f"*{escape(alias)}*"
    if watch is None:
        await context.say_privately(f":mag: There is no alert on {name} in this channel any more.")
        return
    how = {"1h": "for an hour", "1d": "for a day", "recovered": "until it recovers"}[choice]
    await context.say_privately(
        f":zzz: <@{context.user_id}> snoozed the alert on {name} {how}. If it gets worse "
        "(runs out), the channel is still told.",
    )


def _read(value: str | None) -> tuple[str, str]:
    data = json.loads(value or "")
    if not isinstance(data, dict) or data.get("snooze") not in SNOOZE_CHOICES:
        raise ValueError("not a snooze button")
    return normalize_alias(str(data.get("alias"))), str(data["snooze"])
