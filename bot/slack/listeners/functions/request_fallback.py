"""*Request global fallback* (admins): switch an alias's global fallback on or off from a
workflow, through the workspace's policy. Off, or on without two-person approval: switched at
once (for the duration asked, as the Enable dialog does) and noted in the channel. On with
approval: a request is posted in the channel and the step completes when another admin
approves or rejects it, or when it expires (`buttons/approval.py`, the worker)."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from ....runtime import Runtime
from ....services import approvals, digests
from ....services.aliases import LinkedAlias
from ....services.approvals import NewRequest, RequestNotDecided
from ....services.clock import utcnow
from ....services.fallback import FallbackRequest, TimerChange
from ....services.fallback_timers import DURATIONS, Duration, Where, off_time
from ....services.locks import LockBusy
from ....services.quota import global_balance_or_none
from ... import blocks, ids
from ...blocks import approval as approval_blocks
from ...blocks import steps as step_blocks
from ...outbound import approvals as outbound
from ..buttons.fallback_switch import make_switch
from .step import Step, StepFailed, register_step

logger = logging.getLogger(__name__)

DEADLINE = 8.0


def register(app: AsyncApp, runtime: Runtime) -> None:
    register_step(app, runtime, ids.REQUEST_FALLBACK_STEP, request_fallback)


async def request_fallback(step: Step) -> None:
    user_id = await step.user()
    await step.require_admin(user_id, "switch the global fallback")
    channel = step.channel(required=True)
    assert channel is not None
    enable = step.flag("enable")
    duration = step.text("duration", required=False) or "until_off"
    if duration not in DURATIONS:
        raise StepFailed(step_blocks.bad_input("duration"))
    alias = await step.alias(channel)
    token = await step.token()
    if enable and await approvals.approval_required(step.runtime.db, step.team_id):
        await _ask(step, user_id, alias, channel, duration, token)  # type: ignore[arg-type]
        return
    await _switch(step, user_id, alias, channel, enable, duration, token)  # type: ignore[arg-type]


async def _zone(step: Step, channel: str) -> ZoneInfo:
    found = await digests.channel_schedule(
        step.runtime.db, team_id=step.team_id, channel_id=channel
    )
    return found[0].schedule.zone if found is not None else ZoneInfo("UTC")


async def _switch(
    step: Step,
    user_id: str,
    alias: LinkedAlias,
    channel: str,
    enable: bool,
    duration: Duration,
    token: str,
) -> None:
    off_at = off_time(duration, now=utcnow(), zone=await _zone(step, channel)) if enable else None
    request = FallbackRequest(
        team_id=step.team_id,
        user_id=user_id,
        alias=alias.name,
        application_id=alias.application_id,
        enable=enable,
        timer=TimerChange(off_at, Where(alias.name, channel, None)),
    )
    try:
        result = await make_switch(step.runtime, token, request)
    except LockBusy:
        raise StepFailed(
            step_blocks.fallback_not_switched("another change was in flight.")
        ) from None
    if result.error is not None:
        raise result.error
    if result.after is not enable:
        raise StepFailed(step_blocks.MISMATCH)
    if result.outcome == "changed":
        note = blocks.fallback_changed_note(
            user_id, alias.name, alias.application_id, result.before, result.after
        ) + approval_blocks.until_part(off_at)
        try:
            await step.client.chat_postMessage(
                channel=channel, text=note + step_blocks.VIA_WORKFLOW
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            # The change is made and audited; the step's outputs say so.
            logger.warning("Step note not posted %s: %s", step.log_context(), type(exc).__name__)
    until = off_at.isoformat(timespec="minutes") if off_at is not None else ""
    await step.complete(outputs={"fallback_on": enable, "until": until})


async def _ask(
    step: Step, user_id: str, alias: LinkedAlias, channel: str, duration: Duration, token: str
) -> None:
    new = NewRequest(
        team_id=step.team_id,
        requester_id=user_id,
        alias=alias.name,
        application_id=alias.application_id,
        duration=duration,
        channel_id=channel,
        thread_ts=None,
        function_execution_id=step.execution_id,
        function_token=step.function_token,
    )
    ttl = timedelta(seconds=step.runtime.settings.approval_ttl_seconds)
    try:
        pending = await approvals.create_request(step.runtime.db, new, now=utcnow(), ttl=ttl)
    except RequestNotDecided:
        raise StepFailed(step_blocks.ALREADY_WAITING) from None
    balance = await global_balance_or_none(step.runtime.acedata, token, deadline=DEADLINE)
    ts, _ = await outbound.post_request(step.client, pending, balance=balance, ttl=ttl)
    if ts is None:
        await approvals.withdraw(step.runtime.db, pending.id)
        raise StepFailed(step_blocks.CANNOT_POST)
    await approvals.set_message(step.runtime.db, pending.id, ts)
    # The step completes when the request is decided or expires.
