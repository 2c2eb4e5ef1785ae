"""The `/quota` slash command: parse, ack at once, then do the work and answer via respond()."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..acedata import AceDataError
from ..db.models import Alias
from ..runtime import Runtime
from ..services import aliases, audit, permissions
from ..services.errors import AliasNotFound, NoTokenConfigured
from ..services.quota import read_quota
from ..services.workspaces import platform_token
from . import blocks
from .authz import NotAdmin, require_admin
from .parsing import (
    ChangeAdmin,
    LinkAlias,
    ListAdmins,
    ListAliases,
    NotAvailableYet,
    QuotaRequest,
    SetToken,
    ShowAlias,
    ShowApplication,
    ShowHelp,
    UnlinkAlias,
    UsageError,
    parse,
)
from .text import escape

logger = logging.getLogger(__name__)

QUOTA_DEADLINE = 8.0
LIST_CONCURRENCY = 8


@dataclass(frozen=True)
class CommandContext:
    runtime: Runtime
    client: AsyncWebClient
    respond: AsyncRespond
    team_id: str
    channel_id: str
    user_id: str
    trigger_id: str

    async def say_privately(self, text: str, blocks_: blocks.Blocks | None = None) -> None:
        await self.respond(response_type="ephemeral", text=text, blocks=blocks_)

    async def require_admin(self, action: str) -> None:
        await require_admin(
            self.client,
            self.runtime.sessions,
            team_id=self.team_id,
            user_id=self.user_id,
            action=action,
        )

    async def token(self) -> str:
        async with self.runtime.sessions() as session:
            token = await platform_token(session, self.team_id, self.runtime.fallback_token)
        if token is None:
            raise NoTokenConfigured()
        return token


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
        await context.say_privately(
            f":no_entry: Only bot admins can {exc.action}. Slack workspace admins and owners are "
            "bot admins; they can add others with `/quota admins add @user`."
        )
    except NoTokenConfigured:
        await context.say_privately(
            ":key: No Ace Data Cloud token is set for this workspace yet. An admin can set one "
            "with `/quota token`."
        )
    except AliasNotFound as exc:
        await context.say_privately(alias_not_found_text(exc))
    except Exception:
        logger.exception(
            "Failed %s for team=%s channel=%s user=%s",
            type(request).__name__,
            context.team_id,
            context.channel_id,
            context.user_id,
        )
        await context.say_privately(
            ":x: Something went wrong on our side; nothing was changed. It has been logged — "
            "please try again."
        )


def alias_not_found_text(exc: AliasNotFound) -> str:
    name = escape(exc.name)
    if exc.workspace is None:
        return (
            f":mag: There is no alias *{name}* here. `/quota list` shows the aliases you can use; "
            f"an admin can add one with `/quota link {name} &lt;application-id&gt;`."
        )
    scope = "workspace" if exc.workspace else "channel"
    hint = ""
    if exc.other_scope:
        hint = (
            f" There is a channel alias *{name}* here: drop `--workspace`."
            if exc.workspace
            else f" There is a workspace alias *{name}*: add `--workspace` to remove it."
        )
    return f":mag: There is no {scope} alias *{name}*; nothing was changed.{hint}"


async def list_aliases(context: CommandContext, _: ListAliases) -> None:
    async with context.runtime.sessions() as session:
        visible = await aliases.visible_aliases(
            session, team_id=context.team_id, channel_id=context.channel_id
        )
        token = await platform_token(session, context.team_id, context.runtime.fallback_token)
    semaphore = asyncio.Semaphore(LIST_CONCURRENCY)

    async def line(alias: Alias) -> blocks.AliasLine:
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
        f"{len(lines)} aliases here", blocks.alias_list(lines, token_missing=token is None)
    )


async def show_alias(context: CommandContext, request: ShowAlias) -> None:
    async with context.runtime.sessions() as session:
        alias = await aliases.resolve(
            session, team_id=context.team_id, channel_id=context.channel_id, name=request.alias
        )
    await _post_card(context, alias.application_id, alias.name)


async def show_application(context: CommandContext, request: ShowApplication) -> None:
    await context.require_admin("look up an application by its ID")
    await _post_card(context, request.application_id, None)


async def _post_card(context: CommandContext, application_id: str, alias: str | None) -> None:
    token = await context.token()
    try:
        snapshot = await read_quota(
            context.runtime.acedata, token, application_id, deadline=QUOTA_DEADLINE
        )
    except AceDataError as exc:
        logger.warning(
            "Quota lookup failed team=%s alias=%s application=%s: %s",
            context.team_id,
            alias,
            application_id,
            exc,
        )
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=application_id, alias=alias)
        )
        return
    await context.respond(
        response_type="in_channel",
        text=blocks.quota_card_text(snapshot, alias),
        blocks=blocks.quota_card(snapshot, alias),
    )


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
    channel_id = None if request.workspace else context.channel_id
    async with context.runtime.sessions() as session, session.begin():
        result = await aliases.link(
            session,
            team_id=context.team_id,
            channel_id=channel_id,
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
            before=result.previous_application_id,
            after=request.application_id,
            detail="workspace" if request.workspace else f"channel {context.channel_id}",
        )
    scope = "the whole workspace" if request.workspace else "this channel"
    was = f" (was `{result.previous_application_id}`)" if result.previous_application_id else ""
    await context.say_privately(
        f":link: *{escape(request.alias)}* now points to {escape(application.title)} "
        f"(`{request.application_id}`) for {scope}{was}. Anyone here can use "
        f"`/quota {escape(request.alias)}`."
    )


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


async def not_available_yet(context: CommandContext, request: NotAvailableYet) -> None:
    await context.say_privately(
        f":construction: `/quota {request.feature}` is not available yet. "
        "Type `/quota help` for what works today."
    )


HANDLERS: dict[type, Callable[[CommandContext, Any], Awaitable[None]]] = {
    ListAliases: list_aliases,
    ShowAlias: show_alias,
    ShowApplication: show_application,
    LinkAlias: link_alias,
    UnlinkAlias: unlink_alias,
    SetToken: open_token_modal,
    ListAdmins: list_admins,
    ChangeAdmin: change_admin,
    NotAvailableYet: not_available_yet,
}
