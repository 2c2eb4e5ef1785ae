"""Workspace administration: the platform token dialog, the bot-admin list, the audit log."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError

from ....services import audit, permissions
from ... import blocks
from ...api_errors import slack_error
from ..context import CommandContext
from .grammar import ChangeAdmin, ListAdmins, SetToken, ShowAudit

logger = logging.getLogger(__name__)


async def open_token_modal(context: CommandContext, _: SetToken) -> None:
    await context.require_admin("set the Ace Data Cloud token")
    try:
        await context.client.views_open(trigger_id=context.trigger_id, view=blocks.token_modal())
    except SlackApiError as exc:
        logger.warning("views.open failed team=%s: %s", context.team_id, slack_error(exc))
        await context.say_privately(blocks.TOKEN_MODAL_LATE)
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("views.open failed team=%s: %s", context.team_id, type(exc).__name__)
        await context.say_privately(blocks.TOKEN_MODAL_LATE)


async def list_admins(context: CommandContext, _: ListAdmins) -> None:
    listed = await permissions.listed_admins(context.runtime.db, team_id=context.team_id)
    await context.say_privately(blocks.admins_text(listed))


async def change_admin(context: CommandContext, request: ChangeAdmin) -> None:
    await context.require_admin("change bot admins")
    db = context.runtime.db
    if request.add:
        changed = await permissions.add_admin(
            db, team_id=context.team_id, user_id=request.user_id, added_by=context.user_id
        )
    else:
        changed = await permissions.remove_admin(
            db, team_id=context.team_id, user_id=request.user_id, removed_by=context.user_id
        )
    await context.say_privately(blocks.admin_changed(request.user_id, request.add, changed))


async def show_audit(context: CommandContext, request: ShowAudit) -> None:
    await context.require_admin("read the audit log")
    events = await audit.recent(context.runtime.db, team_id=context.team_id, alias=request.alias)
    await context.say_privately(
        f"{len(events)} audit events", blocks.audit_list(events, request.alias)
    )
