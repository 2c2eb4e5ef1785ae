"""The quota card's *Enable/Disable global fallback* button (admins): sets the explicit value
the button names, re-reads to confirm, updates the card, notes it in the thread and audits."""

from __future__ import annotations

import logging
import re

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from ....services.errors import AliasNotFound, ApplicationNotLinked, TargetMoved
from ....services.fallback import (
    FallbackRequest,
    FallbackResult,
    record_attempt,
    record_unreadable_button,
    set_global_fallback,
)
from ....services.locks import LockBusy
from ... import blocks, ids
from ...ids import InvalidButtonValue
from ..pipeline import button
from .card_context import DEADLINE, CardContext, card_failure_text, check_target

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(re.compile(rf"^{ids.TOGGLE_ACTION}(:\w+)?$"))(
        button(runtime, CardContext.of, toggle_fallback, failure_text=card_failure_text)
    )


async def toggle_fallback(context: CardContext) -> None:
    context.require_replay_checked()
    request, token = await _authorized_fallback_request(context)
    try:
        result = await set_global_fallback(
            context.runtime.acedata,
            context.runtime.db,
            token,
            request,
            deadline=DEADLINE,
            lock_wait=context.runtime.settings.fallback_lock_wait,
        )
    except LockBusy:
        await context.say_privately(blocks.fallback_busy(request.alias, request.application_id))
        return
    await _report_fallback_result(context, request, result)


async def _authorized_fallback_request(context: CardContext) -> tuple[FallbackRequest, str]:
    """The change the button asks for, once it is known to be allowed, and the token to make it
    with. Every refusal is audited before it is raised."""
    db = context.runtime.db
    try:
        target = ids.decode_toggle(context.value)
    except InvalidButtonValue:
        await record_unreadable_button(db, team_id=context.team_id, user_id=context.user_id)
        raise
    request = FallbackRequest(
        team_id=context.team_id,
        user_id=context.user_id,
        alias=target.alias,
        application_id=target.application_id,
        enable=target.enable,
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


async def _report_fallback_result(
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
        )
        note_problem = await context.reply_in_thread(note)
        if note_problem is not None:
            logger.warning("Thread note failed %s: %s", context.log_context(), note_problem)
            problems.append(blocks.note_not_posted_part(note_problem))
    if result.audit_missing:
        problems.append(blocks.AUDIT_MISSING_PART)
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
