"""`/quota usage <alias> [today|7d|30d]`: the application's spend by API, posted like a card.

Anyone who may see the alias here may see its usage (as with `/quota <alias>`). The days are
the channel's digest zone's, else the user's Slack zone's, else UTC's."""

from __future__ import annotations

import logging

from ....acedata import AceDataError
from ....services import aliases
from ....services.clock import utcnow
from ....services.usage import period_bounds, read_usage
from ...blocks import upstream_problem
from ...blocks.breakdown import usage_message
from ..context import CommandContext
from .grammar import ShowUsage

logger = logging.getLogger(__name__)


async def show_usage(context: CommandContext, request: ShowUsage) -> None:
    alias, token = await aliases.resolve_with_token(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=request.alias,
        fallback=context.runtime.fallback_token,
    )
    now = utcnow()
    bounds = period_bounds(request.period, await context.local_zone(), now)
    try:
        report = await read_usage(
            context.runtime.acedata, token, alias.application_id, bounds=bounds
        )
    except AceDataError as exc:
        logger.warning(
            "Usage read failed %s alias=%s application=%s: %s",
            context.log_context(),
            alias.name,
            alias.application_id,
            exc,
        )
        await context.say_privately(
            upstream_problem(exc, application_id=alias.application_id, alias=alias.name)
        )
        return
    await context.respond(
        usage_message(report, alias.name, as_of=now, console=context.runtime.settings.console),
        what=f"the usage of {alias.name}",
    )
