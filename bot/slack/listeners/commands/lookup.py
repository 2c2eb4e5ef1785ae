"""Reading quotas: the alias list and the quota card."""

from __future__ import annotations

import asyncio
import logging

from ....acedata import AceDataError
from ....services import aliases
from ....services.errors import NoTokenConfigured, TokenUnreadable
from ....services.quota import observe_quota
from ... import blocks
from ..context import CommandContext
from .grammar import ListAliases, ShowAlias, ShowApplication

logger = logging.getLogger(__name__)

QUOTA_DEADLINE = 8.0
LIST_CONCURRENCY = 8


async def list_aliases(context: CommandContext, _: ListAliases) -> None:
    visible = await aliases.visible_aliases(
        context.runtime.db, team_id=context.team_id, channel_id=context.channel_id
    )
    token: str | None = None
    token_note: str | None = None
    try:
        token = await context.token()
    except TokenUnreadable:
        token_note = blocks.TOKEN_UNREADABLE
    except NoTokenConfigured:
        token_note = blocks.NO_TOKEN_FOR_LIST
    semaphore = asyncio.Semaphore(LIST_CONCURRENCY)

    async def line(alias: aliases.LinkedAlias) -> blocks.AliasLine:
        application, problem = None, None
        if token is not None:
            try:
                async with semaphore:
                    application = await context.runtime.acedata.get_application(
                        token, alias.application_id, deadline=QUOTA_DEADLINE
                    )
            except AceDataError as exc:
                logger.warning("List: %s (%s) unreadable: %s", alias.name, context.team_id, exc)
                problem = blocks.upstream_problem(
                    exc, application_id=alias.application_id, alias=alias.name
                ).removeprefix(":warning: ")
        return blocks.AliasLine(
            alias.name, alias.is_workspace_wide, alias.application_id, application, problem
        )

    lines = await asyncio.gather(*(line(alias) for alias in visible))
    await context.say_privately(
        f"{len(lines)} aliases here", blocks.alias_list(lines, token_note=token_note)
    )


async def show_alias(context: CommandContext, request: ShowAlias) -> None:
    alias, token = await aliases.resolve_with_token(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=request.alias,
        fallback=context.runtime.fallback_token,
    )
    await _post_card(context, alias.application_id, alias.name, token=token)


async def show_application(context: CommandContext, request: ShowApplication) -> None:
    await context.require_admin("look up an application by its ID")
    linked = await aliases.is_linked_in_workspace(
        context.runtime.db, team_id=context.team_id, application_id=request.application_id
    )
    await _post_card(
        context, request.application_id, None, token=await context.token(), toggleable=linked
    )


async def _post_card(
    context: CommandContext,
    application_id: str,
    alias: str | None,
    *,
    token: str,
    toggleable: bool = True,
) -> None:
    try:
        snapshot = await observe_quota(
            context.runtime.acedata,
            context.runtime.db,
            token,
            team_id=context.team_id,
            application_id=application_id,
            deadline=QUOTA_DEADLINE,
        )
    except AceDataError as exc:
        logger.warning(
            "Quota lookup failed %s alias=%s application=%s: %s",
            context.log_context(),
            alias,
            application_id,
            exc,
        )
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=application_id, alias=alias)
        )
        return
    await context.respond(
        {
            "response_type": "in_channel",
            "text": blocks.quota_card_text(snapshot, alias),
            "blocks": blocks.quota_card(
                snapshot, alias, toggleable=toggleable, console=context.runtime.settings.console
            ),
        },
        what=f"the quota card for {alias or application_id}",
    )
