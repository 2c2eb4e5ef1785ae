"""Workspace administration: the platform token dialog and the bot-admin list."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from ...services import audit, permissions
from .. import blocks
from ..parsing import ChangeAdmin, ListAdmins, SetToken, ShowAudit
from .context import CommandContext

logger = logging.getLogger(__name__)


async def open_token_modal(context: CommandContext, _: SetToken) -> None:
    await context.require_admin("set the Ace Data Cloud token")
    try:
        await context.client.views_open(trigger_id=context.trigger_id, view=blocks.token_modal())
    except SlackApiError as exc:
        logger.warning("views.open failed team=%s: %s", context.team_id, exc.response.get("error"))
        await context.say_privately(
            ":hourglass: Slack did not let the token dialog open in time. Please run "
            "`/quota token` again."
        )


async def list_admins(context: CommandContext, _: ListAdmins) -> None:
    async with context.runtime.sessions() as session:
        listed = await permissions.listed_admins(session, team_id=context.team_id)
    await context.say_privately(blocks.admins_text([admin.user_id for admin in listed]))


async def change_admin(context: CommandContext, request: ChangeAdmin) -> None:
    await context.require_admin("change bot admins")
    async with context.runtime.sessions() as session, session.begin():
        if request.add:
            changed = await permissions.add_admin(
                session, team_id=context.team_id, user_id=request.user_id, added_by=context.user_id
            )
        else:
            changed = await permissions.remove_admin(
                session, team_id=context.team_id, user_id=request.user_id
            )
        if changed:
            await audit.record(
                session,
                team_id=context.team_id,
                user_id=context.user_id,
                action="admin_added" if request.add else "admin_removed",
                outcome="changed",
                detail=request.user_id,
            )
    who = f"<@{request.user_id}>"
    if request.add:
        text = f"{who} is now a bot admin." if changed else f"{who} was already a bot admin."
    else:
        text = (
            f"{who} is no longer a listed bot admin (Slack workspace admins and owners stay "
            "admins)."
            if changed
            else f"{who} was not a listed bot admin; nothing changed."
        )
    await context.say_privately(text)


async def show_audit(context: CommandContext, request: ShowAudit) -> None:
    await context.require_admin("read the audit log")
    async with context.runtime.sessions() as session:
        events = await audit.recent(session, team_id=context.team_id, alias=request.alias)
    await context.say_privately(
        f"{len(events)} audit events", blocks.audit_list(events, request.alias)
    )
