"""`/quota policy` (anyone: the workspace's guard rails) and `/quota policy approval on|off`
(admins: two-person approval for enabling a global fallback)."""

from __future__ import annotations

from datetime import timedelta

from ....services import approvals
from ...blocks import approval as approval_blocks
from ..context import CommandContext
from .grammar import SetApproval, ShowPolicy


def _ttl(context: CommandContext) -> timedelta:
    return timedelta(seconds=context.runtime.settings.approval_ttl_seconds)


async def show_policy(context: CommandContext, request: ShowPolicy) -> None:
    on = await approvals.approval_required(context.runtime.db, context.team_id)
    await context.say_privately(approval_blocks.policy_text(on, _ttl(context)))


async def set_approval(context: CommandContext, request: SetApproval) -> None:
    await context.require_admin("change the approval policy")
    changed = await approvals.set_approval_required(
        context.runtime.db, team_id=context.team_id, user_id=context.user_id, on=request.on
    )
    await context.say_privately(approval_blocks.policy_changed(request.on, changed))
