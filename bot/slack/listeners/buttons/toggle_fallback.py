"""The quota card's *Enable/Disable global fallback* button (admins). *Disable* sets the
explicit value the button names at once (after Slack's confirm), re-reads to confirm, updates
the card, notes it in the thread and audits. *Enable* opens a dialog first — for how long, and
whether a second admin must approve — whose submission makes the change
(`views/enable_fallback.py`)."""

from __future__ import annotations

import json
import logging
import re

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError

from ....runtime import Runtime
from ....services import approvals
from ....services.fallback import TimerChange
from ....services.fallback_timers import Where
from ....services.quota import global_balance_or_none
from ... import ids
from ...api_errors import slack_error
from ...blocks import approval as approval_blocks
from ...blocks.format import quantity
from ...ids import InvalidButtonValue, ToggleTarget
from ..pipeline import button
from .card_context import CardContext, card_failure_text
from .fallback_switch import authorized_fallback_request, switch_now, ttl

logger = logging.getLogger(__name__)

# The dialog must open within Slack's 3 seconds of the press: the balance is read quickly.
BALANCE_READ_DEADLINE = 1.5


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(re.compile(rf"^{ids.TOGGLE_ACTION}(:\w+)?$"))(
        button(runtime, CardContext.of, toggle_fallback, failure_text=card_failure_text)
    )


def _target(context: CardContext) -> ToggleTarget | None:
    try:
        return ids.decode_toggle(context.value)
    except InvalidButtonValue:
        return None


async def toggle_fallback(context: CardContext) -> None:
    context.require_replay_checked()
    target = _target(context)
    if target is not None and target.enable:
        await open_enable_dialog(context, target)
        return
    where = Where(
        target.alias if target else None,
        context.channel_id,
        context.message_ts if context.has_thread else None,
    )
    request, token = await authorized_fallback_request(
        context, target, timer=TimerChange(None, where)
    )
    await switch_now(context, request, token)


async def open_enable_dialog(context: CardContext, target: ToggleTarget) -> None:
    """Check the press as the switch itself would, then ask for how long."""
    request, token = await authorized_fallback_request(context, target)
    balance = await global_balance_or_none(
        context.runtime.acedata, token, deadline=BALANCE_READ_DEADLINE
    )
    dialog = ids.EnableDialog(
        target=target,
        channel=context.channel_id,
        ts=context.message_ts,
        ephemeral=context.is_ephemeral,
        block_id=context.block_id,
        response_url=context.response_url.url,
    )
    view = approval_blocks.enable_dialog(
        alias=request.alias,
        application_id=request.application_id,
        balance="unavailable" if balance is None else quantity(balance),
        approval=await approvals.approval_required(context.runtime.db, context.team_id),
        ttl=ttl(context),
        zone=await context.local_zone(),
        metadata=json.dumps(dialog.model_dump(), separators=(",", ":")),
    )
    try:
        await context.client.views_open(trigger_id=context.trigger_id, view=view)
    except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        reason = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        logger.warning("views.open failed %s: %s", context.log_context(), reason)
        await context.say_privately(approval_blocks.ENABLE_DIALOG_LATE)
