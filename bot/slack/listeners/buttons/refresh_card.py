"""The quota card's *Refresh* button: anyone who could see the card with `/quota` in that
channel reads it again; a raw application ID's card only for admins."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

from ....acedata.errors import AceDataError
from ....runtime import Runtime
from ....services.aliases import is_linked_in_workspace, is_visible_in_channel
from ....services.quota import observe_quota
from ... import blocks, ids
from ..pipeline import button
from .card_context import DEADLINE, CardContext, card_failure_text, check_target

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(ids.REFRESH_ACTION)(
        button(runtime, CardContext.of, refresh_card, failure_text=card_failure_text)
    )


async def refresh_card(context: CardContext) -> None:
    target = ids.decode_target(context.value)
    toggleable = await _may_refresh(context, target)
    token = await context.token()
    if context.in_digest:
        # The whole digest is composed again, from reads shared by refreshes close together.
        problem = await context.update_digest()
        if problem is not None:
            logger.warning("Digest refresh failed %s: %s", context.log_context(), problem)
            await context.say_privately(blocks.digest_not_refreshed(problem))
        return
    try:
        snapshot = await observe_quota(
            context.runtime.acedata,
            context.runtime.db,
            token,
            team_id=context.team_id,
            application_id=target.application_id,
            deadline=DEADLINE,
        )
    except AceDataError as exc:
        logger.warning("Refresh failed %s: %s", context.log_context(), exc)
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=target.application_id, alias=target.alias)
        )
        return
    card_problem = await context.update_card(snapshot, target.alias, toggleable=toggleable)
    if card_problem is not None:
        logger.warning("Card refresh failed %s: %s", context.log_context(), card_problem)
        await context.say_privately(
            blocks.card_not_updated(
                target.alias,
                target.application_id,
                snapshot.application.allow_consume_global,
                card_problem,
            )
        )


async def _may_refresh(context: CardContext, target: ids.CardTarget) -> bool:
    """Check the card's target belongs here and the user may refresh it; whether its switch
    is offered (a raw ID's card only when an alias in the workspace points to it)."""
    db = context.runtime.db
    if target.alias is not None:
        await check_target(context, target)
        return True
    if await is_visible_in_channel(
        db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        application_id=target.application_id,
    ):
        return True
    # Only what `/quota` shows a member here: a raw ID is for admins.
    await context.require_admin("refresh a card of an application no alias here points to")
    return await is_linked_in_workspace(
        db, team_id=context.team_id, application_id=target.application_id
    )
