"""The `/quota` slash command: parse, ack at once, then do the work and answer via respond().

One small function per request type, in the module of its concern; this module dispatches and
turns the expected failures into a private sentence each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ...runtime import Runtime
from ...services.errors import AliasNotFound, NoTokenConfigured
from .. import blocks
from ..authz import NotAdmin
from ..parsing import (
    ChangeAdmin,
    LinkAlias,
    ListAdmins,
    ListAliases,
    NotAvailableYet,
    QuotaRequest,
    SetToken,
    ShowAlias,
    ShowApplication,
    ShowAudit,
    ShowHelp,
    UnlinkAlias,
    UsageError,
    parse,
)
from .admins import change_admin, list_admins, open_token_modal, show_audit
from .aliases import link_alias, unlink_alias
from .context import CommandContext
from .lookup import list_aliases, show_alias, show_application

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command("/quota")
    async def handle_quota(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        text = command.get("text") or ""
        try:
            request = parse(text)
        except UsageError as exc:
            logger.info(
                "Usage error team=%s user=%s: %s",
                command.get("team_id"),
                command.get("user_id"),
                exc.problem,
            )
            await ack(response_type="ephemeral", text=blocks.usage_error(exc.problem, exc.usage))
            return
        if isinstance(request, ShowHelp):
            await ack(response_type="ephemeral", text="Quota Bot help", blocks=blocks.help_blocks())
            return
        await ack()
        context = CommandContext(
            runtime=runtime,
            client=client,
            respond=respond,
            team_id=command["team_id"],
            channel_id=command["channel_id"],
            user_id=command["user_id"],
            trigger_id=command.get("trigger_id", ""),
        )
        await run_request(context, request)


async def run_request(context: CommandContext, request: QuotaRequest) -> None:
    """Carry out one parsed request, turning every expected failure into a private sentence."""
    handler = HANDLERS[type(request)]
    try:
        await handler(context, request)
    except NotAdmin as exc:
        await context.say_privately(blocks.not_admin(exc.action))
    except NoTokenConfigured:
        await context.say_privately(blocks.NO_TOKEN)
    except AliasNotFound as exc:
        await context.say_privately(
            blocks.alias_not_found(exc.name, exc.workspace, exc.other_scope)
        )
    except Exception:
        logger.exception(
            "Failed %s for team=%s channel=%s user=%s",
            type(request).__name__,
            context.team_id,
            context.channel_id,
            context.user_id,
        )
        await context.say_privately(blocks.INTERNAL_ERROR)


async def not_available_yet(context: CommandContext, request: NotAvailableYet) -> None:
    await context.say_privately(blocks.not_available_yet(request.feature))


HANDLERS: dict[type, Callable[[CommandContext, Any], Awaitable[None]]] = {
    ListAliases: list_aliases,
    ShowAlias: show_alias,
    ShowApplication: show_application,
    LinkAlias: link_alias,
    UnlinkAlias: unlink_alias,
    SetToken: open_token_modal,
    ListAdmins: list_admins,
    ChangeAdmin: change_admin,
    ShowAudit: show_audit,
    NotAvailableYet: not_available_yet,
}
