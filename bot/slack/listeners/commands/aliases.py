"""Linking and unlinking aliases (admins)."""

from __future__ import annotations

import logging

from ....acedata import AceDataError
from ....services import aliases
from ... import blocks
from ..context import CommandContext
from .grammar import LinkAlias, UnlinkAlias
from .lookup import QUOTA_DEADLINE

logger = logging.getLogger(__name__)


async def link_alias(context: CommandContext, request: LinkAlias) -> None:
    await context.require_admin("link aliases")
    token = await context.token()
    try:
        application = await context.runtime.acedata.get_application(
            token, request.application_id, deadline=QUOTA_DEADLINE
        )
    except AceDataError as exc:
        logger.warning("Link check failed %s: %s", context.log_context(), exc)
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=request.application_id, alias=None)
            + "\nThe alias was not linked."
        )
        return
    previous = await aliases.link(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=None if request.workspace else context.channel_id,
        name=request.alias,
        application_id=request.application_id,
        user_id=context.user_id,
    )
    await context.say_privately(
        blocks.alias_linked(
            request.alias, application, request.application_id, request.workspace, previous
        )
    )


async def unlink_alias(context: CommandContext, request: UnlinkAlias) -> None:
    await context.require_admin("unlink aliases")
    application_id = await aliases.unlink(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=request.alias,
        workspace=request.workspace,
        user_id=context.user_id,
    )
    await context.say_privately(
        blocks.alias_unlinked(request.alias, application_id, request.workspace)
    )
