"""*Approve* and *Reject* on a request to enable a global fallback (two-person approval; any
admin but the requester may approve, any admin may reject, the requester's *Reject* withdraws).

The decision is claimed once in the database, for the acting workspace only; an approval then
runs the same guarded switch as the card's button (target re-checked in the request's channel,
lock, re-read, audit — both people recorded), shows the decision on the request, notes the
change in its thread and completes the workflow step waiting on it, if any."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from ....services import approvals
from ....services.aliases import check_card_target
from ....services.approvals import PendingRequest, RequestNotDecided
from ....services.clock import utcnow
from ....services.errors import AliasNotFound, ApplicationNotLinked, NoTokenConfigured, TargetMoved
from ....services.fallback import FallbackRequest, FallbackResult, TimerChange
from ....services.fallback_timers import Where, off_time
from ....services.locks import LockBusy
from ... import blocks, ids
from ...blocks import approval as approval_blocks
from ...outbound import approvals as outbound
from ..pipeline import button
from .card_context import MessagePress, card_failure_text
from .fallback_switch import make_switch

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(ids.APPROVE_ACTION)(
        button(runtime, MessagePress.of, approve, failure_text=card_failure_text)
    )
    app.action(ids.REJECT_ACTION)(
        button(runtime, MessagePress.of, reject, failure_text=card_failure_text)
    )


async def _decide(context: MessagePress, *, approve: bool) -> PendingRequest | None:
    """The request, decided by the acting admin; None when it could not be (they were told)."""
    context.require_replay_checked()
    choice = ids.decode_approval(context.value)
    await context.require_admin(
        "approve a global fallback request" if approve else "reject a global fallback request"
    )
    try:
        return await approvals.decide(
            context.runtime.db,
            request_id=choice.request,
            team_id=context.team_id,
            user_id=context.user_id,
            approve=approve,
            now=utcnow(),
        )
    except RequestNotDecided as exc:
        logger.info("Request not decided (%s) %s", exc.reason, context.log_context())
        await context.say_privately(approval_blocks.not_decided(exc.reason, exc.request))
        return None


async def reject(context: MessagePress) -> None:
    request = await _decide(context, approve=False)
    if request is None:
        return
    await outbound.show_decision(context.client, request, "rejected")
    await outbound.complete_step(
        context.runtime, request, error=approval_blocks.step_rejected(f"<@{context.user_id}>")
    )


async def approve(context: MessagePress) -> None:
    request = await _decide(context, approve=True)
    if request is None:
        return
    off_at = off_time(request.duration, now=utcnow(), zone=await context.local_zone())
    try:
        result = await _switch(context, request, off_at)
    except (AliasNotFound, TargetMoved, ApplicationNotLinked, NoTokenConfigured, LockBusy) as exc:
        reason = card_failure_text(exc) or blocks.INTERNAL_ERROR
        if isinstance(exc, LockBusy):
            reason = blocks.fallback_busy(request.alias, request.application_id)
        await _failed(context, request, reason)
        return
    if result.error is not None or result.after is not True:
        reason = (
            blocks.fallback_failed(
                result.error, request.alias, request.application_id, uncertain=result.uncertain
            )
            if result.error is not None
            else blocks.fallback_mismatch(request.alias, request.application_id, True, result.after)
        )
        await _failed(context, request, reason)
        return
    await _approved(context, request, result, off_at)


async def _switch(
    context: MessagePress, request: PendingRequest, off_at: datetime | None
) -> FallbackResult:
    """The guarded switch for an approved request: its target checked again where it was
    asked for, the requester's change with the approver recorded."""
    await check_card_target(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=request.channel_id,
        alias=request.alias,
        application_id=request.application_id,
    )
    token = await context.token()
    where = Where(request.alias, request.channel_id, request.thread_ts or request.message_ts)
    change = FallbackRequest(
        team_id=context.team_id,
        user_id=request.requester_id,
        alias=request.alias,
        application_id=request.application_id,
        enable=True,
        timer=TimerChange(off_at, where, approved_by=context.user_id),
    )
    return await make_switch(context.runtime, token, change)


async def _approved(
    context: MessagePress,
    request: PendingRequest,
    result: FallbackResult,
    off_at: datetime | None,
) -> None:
    await outbound.show_decision(
        context.client, request, "approved", approval_blocks.approved_detail(off_at)
    )
    if result.outcome == "changed":
        note = blocks.fallback_changed_note(
            request.requester_id, request.alias, request.application_id, result.before, True
        ) + approval_blocks.until_part(off_at, context.user_id)
        await outbound.note_in_thread(context.client, request, note)
    if result.timer_missing:
        await context.say_privately(approval_blocks.timer_not_saved())
    await outbound.complete_step(
        context.runtime,
        request,
        outputs={
            "fallback_on": True,
            "until": off_at.isoformat(timespec="minutes") if off_at else "",
            "approved_by": context.user_id,
        },
    )


async def _failed(context: MessagePress, request: PendingRequest, reason: str) -> None:
    logger.info("Approved request %s not carried out %s", request.id, context.log_context())
    await approvals.mark_failed(context.runtime.db, request.id)
    await outbound.show_decision(context.client, request, "failed", reason)
    await context.say_privately(reason)
    await outbound.complete_step(context.runtime, request, error=approval_blocks.step_failed())
