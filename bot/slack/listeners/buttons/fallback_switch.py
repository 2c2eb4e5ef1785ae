"""What the fallback switch's entry points share (the card's button, the Enable dialog, an
approval, a workflow step): the guarded change — admin, target re-checked, token, each refusal
audited — made at once or turned into a request for a second admin, and said."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ....runtime import Runtime
from ....services import approvals
from ....services.approvals import NewRequest, PendingRequest
from ....services.clock import utcnow
from ....services.errors import AliasNotFound, ApplicationNotLinked, TargetMoved
from ....services.fallback import (
    FallbackRequest,
    FallbackResult,
    TimerChange,
    record_attempt,
    record_unreadable_button,
    set_global_fallback,
)
from ....services.fallback_timers import Duration
from ....services.locks import LockBusy
from ....services.quota import global_balance_or_none
from ... import blocks
from ...blocks import approval as approval_blocks
from ...ids import InvalidButtonValue, ToggleTarget
from ...outbound import approvals as outbound
from .card_context import DEADLINE, CardContext, check_target

logger = logging.getLogger(__name__)


async def authorized_fallback_request(
    context: CardContext, target: ToggleTarget | None, *, timer: TimerChange | None = None
) -> tuple[FallbackRequest, str]:
    """The change `target` asks for (None: its value could not be read), once it is known to
    be allowed, and the token to make it with. Every refusal is audited before it is raised."""
    db = context.runtime.db
    if target is None:
        await record_unreadable_button(db, team_id=context.team_id, user_id=context.user_id)
        raise InvalidButtonValue("unreadable fallback switch")
    request = FallbackRequest(
        team_id=context.team_id,
        user_id=context.user_id,
        alias=target.alias,
        application_id=target.application_id,
        enable=target.enable,
        timer=timer,
    )

    async def record(outcome: str, detail: str) -> None:
        await record_attempt(db, request, outcome=outcome, detail=detail)

    token = await context.authorized_token(
        "switch the global fallback",
        lambda: check_target(context, target),
        record,
        refused=(AliasNotFound, TargetMoved, ApplicationNotLinked),
    )
    return request, token


async def make_switch(runtime: Runtime, token: str, request: FallbackRequest) -> FallbackResult:
    """The guarded switch itself (lock, re-read, audit, timer), with the card's deadline."""
    return await set_global_fallback(
        runtime.acedata,
        runtime.db,
        token,
        request,
        deadline=DEADLINE,
        lock_wait=runtime.settings.fallback_lock_wait,
    )


async def switch_now(context: CardContext, request: FallbackRequest, token: str) -> None:
    """Make the change and say what came of it."""
    try:
        result = await make_switch(context.runtime, token, request)
    except LockBusy:
        await context.say_privately(blocks.fallback_busy(request.alias, request.application_id))
        return
    await report_fallback_result(context, request, result)


def ttl(context: CardContext) -> timedelta:
    return timedelta(seconds=context.runtime.settings.approval_ttl_seconds)


async def ask_for_approval(
    context: CardContext, request: FallbackRequest, token: str, duration: Duration
) -> PendingRequest | None:
    """Two-person approval: post a request for another admin in the card's thread (else the
    channel) and tell the requester; the request, or None when it could not be made (said)."""
    thread_ts = context.message_ts if context.has_thread else None
    new = NewRequest(
        team_id=context.team_id,
        requester_id=context.user_id,
        alias=request.alias,
        application_id=request.application_id,
        duration=duration,
        channel_id=context.channel_id,
        thread_ts=thread_ts,
    )
    try:
        pending = await approvals.create_request(
            context.runtime.db, new, now=utcnow(), ttl=ttl(context)
        )
    except approvals.RequestNotDecided as exc:
        await context.say_privately(approval_blocks.not_decided(exc.reason, exc.request))
        return None
    balance = await global_balance_or_none(context.runtime.acedata, token, deadline=DEADLINE)
    ts, problem = await outbound.post_request(
        context.client, pending, balance=balance, ttl=ttl(context)
    )
    if ts is None:
        logger.info("Approval request not posted %s: %s", context.log_context(), problem)
        await approvals.withdraw(context.runtime.db, pending.id)
        await context.say_privately(approval_blocks.request_not_posted(problem or "unknown"))
        return None
    await approvals.set_message(context.runtime.db, pending.id, ts)
    await context.say_privately(
        approval_blocks.request_sent(request.alias, request.application_id, duration)
    )
    return pending


async def report_fallback_result(
    context: CardContext, request: FallbackRequest, result: FallbackResult
) -> None:
    """Say what happened. Once the change is made, every later failure (card, note, audit) is
    reported as just that: it never reads as "nothing was changed"."""
    alias, application_id = request.alias, request.application_id
    if result.error is not None:
        await context.say_privately(
            blocks.fallback_failed(result.error, alias, application_id, uncertain=result.uncertain)
        )
        return
    assert result.snapshot is not None, "a result without an error carries the card's data"
    problems: list[str] = []
    card_problem = await context.update_card(result.snapshot, alias)
    if card_problem is not None:
        logger.warning("Card update failed %s: %s", context.log_context(), card_problem)
        problems.append(blocks.card_not_updated_part(card_problem))
    if result.outcome == "changed":
        note = blocks.fallback_changed_note(
            context.user_id, alias, application_id, result.before, result.after
        ) + approval_blocks.until_part(_off_at(request))
        note_problem = await context.reply_in_thread(note)
        if note_problem is not None:
            logger.warning("Thread note failed %s: %s", context.log_context(), note_problem)
            problems.append(blocks.note_not_posted_part(note_problem))
    if result.audit_missing:
        problems.append(blocks.AUDIT_MISSING_PART)
    await _say_outcome(context, request, result, problems)


def _off_at(request: FallbackRequest) -> datetime | None:
    return request.timer.off_at if request.enable and request.timer is not None else None


async def _say_outcome(
    context: CardContext, request: FallbackRequest, result: FallbackResult, problems: list[str]
) -> None:
    alias, application_id = request.alias, request.application_id
    if result.timer_missing:
        await context.say_privately(approval_blocks.timer_not_saved())
    match result.outcome:
        case "changed":
            if problems:
                await context.say_privately(
                    blocks.fallback_changed_with_problems(alias, application_id, result, problems)
                )
        case "unchanged":
            await context.say_privately(
                blocks.fallback_already(alias, application_id, result.after, problems)
            )
        case _:
            await context.say_privately(
                blocks.fallback_mismatch(
                    alias, application_id, request.enable, result.after, problems
                )
            )
