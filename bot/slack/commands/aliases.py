"""Linking and unlinking aliases (admins)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from ...acedata import AceDataError
from ...services import aliases, audit
from .. import blocks
from ..parsing import LinkAlias, UnlinkAlias
from ..text import escape
from .context import CommandContext
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
        logger.warning("Link check failed team=%s: %s", context.team_id, exc)
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=request.application_id, alias=None)
            + "\nThe alias was not linked."
        )
        return
    try:
        previous = await _save_link(context, request)
    except IntegrityError:
        # Somebody linked the same new alias at the same moment: theirs exists now, so this
        # second attempt replaces it like any re-link.
        previous = await _save_link(context, request)
    scope = "the whole workspace" if request.workspace else "this channel"
    was = f" (was `{previous}`)" if previous else ""
    await context.say_privately(
        f":link: *{escape(request.alias)}* now points to {escape(application.title)} "
        f"(`{request.application_id}`) for {scope}{was}. Anyone here can use "
        f"`/quota {escape(request.alias)}`."
    )


async def _save_link(context: CommandContext, request: LinkAlias) -> str | None:
    """Save the link and its audit row; the application the alias pointed to before, if any."""
    async with context.runtime.sessions() as session, session.begin():
        previous = await aliases.link(
            session,
            team_id=context.team_id,
            channel_id=None if request.workspace else context.channel_id,
            name=request.alias,
            application_id=request.application_id,
            user_id=context.user_id,
        )
        await audit.record(
            session,
            team_id=context.team_id,
            user_id=context.user_id,
            action="alias_linked",
            outcome="changed",
            alias=request.alias,
            application_id=request.application_id,
            before=previous,
            after=request.application_id,
            detail="workspace" if request.workspace else f"channel {context.channel_id}",
        )
    return previous


async def unlink_alias(context: CommandContext, request: UnlinkAlias) -> None:
    await context.require_admin("unlink aliases")
    async with context.runtime.sessions() as session, session.begin():
        application_id = await aliases.unlink(
            session,
            team_id=context.team_id,
            channel_id=context.channel_id,
            name=request.alias,
            workspace=request.workspace,
        )
        await audit.record(
            session,
            team_id=context.team_id,
            user_id=context.user_id,
            action="alias_unlinked",
            outcome="changed",
            alias=request.alias,
            application_id=application_id,
            before=application_id,
            detail="workspace" if request.workspace else f"channel {context.channel_id}",
        )
    scope = "workspace" if request.workspace else "channel"
    await context.say_privately(
        f":broken_chain: Removed the {scope} alias *{escape(request.alias)}* "
        f"(it pointed to `{application_id}`)."
    )
