"""The `/quota` slash command: parse, ack at once, then do the work and answer via the
response_url.

One small function per request type, in the module of its concern; this module dispatches and
turns the expected failures into a private sentence each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services.errors import AliasNotFound
from ... import blocks
from ...ingress.envelope import SlashCommand
from ...ingress.middleware import ENVELOPE, REPLAY_UNCHECKED, first_delivery
from ...outbound.response_url import ResponseUrl
from ..context import CommandContext
from ..pipeline import after_ack, run_answering_failures
from .admins import change_admin, list_admins, open_token_modal, show_audit
from .alerts import alert_off, list_alerts, set_alert
from .aliases import link_alias, unlink_alias
from .digests import digest_now, digest_off, set_digest, show_digest
from .grammar import (
    AlertOff,
    ChangeAdmin,
    DigestNow,
    DigestOff,
    LinkAlias,
    ListAdmins,
    ListAlerts,
    ListAliases,
    ListKeys,
    QuotaRequest,
    SetAlert,
    SetApproval,
    SetDigest,
    SetSpike,
    SetToken,
    ShowAlias,
    ShowApplication,
    ShowAudit,
    ShowDigest,
    ShowHelp,
    ShowPolicy,
    ShowUsage,
    SpikeOff,
    UnlinkAlias,
    UsageError,
    parse,
)
from .keys import list_keys
from .lookup import list_aliases, show_alias, show_application
from .policy import set_approval, show_policy
from .spikes import set_spike, spike_off
from .usage import show_usage

logger = logging.getLogger(__name__)

# Requests that change state: refused when the replay check could not run.
CHANGES = (
    LinkAlias,
    UnlinkAlias,
    ChangeAdmin,
    SetDigest,
    DigestOff,
    DigestNow,
    SetAlert,
    AlertOff,
    SetSpike,
    SpikeOff,
    SetApproval,
)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.command("/quota")
    async def handle_quota(
        ack: AsyncAck, context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        command: SlashCommand = context[ENVELOPE]
        try:
            request = parse(command.text)
        except UsageError as exc:
            if not await first_delivery(context):  # the answer is in the ack: check first
                await ack()
                return
            logger.info(
                "Usage error team=%s user=%s: %s", command.team_id, command.user_id, exc.problem
            )
            await ack(response_type="ephemeral", text=blocks.usage_error(exc.problem, exc.usage))
            return
        if isinstance(request, ShowHelp):
            if not await first_delivery(context):
                await ack()
                return
            await ack(response_type="ephemeral", text="Quota Bot help", blocks=blocks.help_blocks())
            return
        await ack()

        async def run() -> None:  # after the replay check, whose outcome the context carries
            interaction = CommandContext(
                runtime=runtime,
                client=client,
                response_url=ResponseUrl.of(runtime, command.response_url),
                team_id=command.team_id,
                channel_id=command.channel_id,
                user_id=command.user_id,
                trigger_id=command.trigger_id,
                replay_unchecked=bool(context.get(REPLAY_UNCHECKED)),
            )
            await run_request(interaction, request)

        await after_ack(runtime, context, run)


async def run_request(context: CommandContext, request: QuotaRequest) -> None:
    """Carry out one parsed request, turning every expected failure into a private sentence."""
    handler = HANDLERS[type(request)]

    async def work(context: CommandContext) -> None:
        if isinstance(request, CHANGES):
            context.require_replay_checked()
        await handler(context, request)

    await run_answering_failures(
        context, work, failure_text=_command_failure_text, what=type(request).__name__
    )


def _command_failure_text(exc: Exception) -> str | None:
    if isinstance(exc, AliasNotFound):
        return blocks.alias_not_found(exc.name, exc.workspace, exc.other_scope)
    return blocks.failure_text(exc)


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
    ShowDigest: show_digest,
    SetDigest: set_digest,
    DigestOff: digest_off,
    DigestNow: digest_now,
    ListAlerts: list_alerts,
    SetAlert: set_alert,
    AlertOff: alert_off,
    SetSpike: set_spike,
    SpikeOff: spike_off,
    ShowUsage: show_usage,
    ListKeys: list_keys,
    ShowPolicy: show_policy,
    SetApproval: set_approval,
}
