"""The *Refresh* button of a `/quota usage` message: anyone who may see the alias in the pressed
message's channel reads its usage again, and the message is replaced in place.

The button's value is never trusted: the alias is resolved again for the presser's workspace
(the team Slack authorized) in the message's channel, so a value naming an alias of another
channel or workspace reads nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ....acedata import AceDataError
from ....runtime import Runtime
from ....services import aliases
from ....services.clock import utcnow
from ....services.errors import AliasNotFound
from ....services.usage import period_bounds, read_usage
from ... import blocks, ids
from ...api_errors import slack_error
from ...blocks.breakdown import usage_alias_gone, usage_message, usage_not_updated
from ...ingress.envelope import ButtonPress
from ...ingress.middleware import ENVELOPE
from ..context import PressContext
from ..pipeline import button, press_context

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(ids.USAGE_REFRESH_ACTION)(
        button(runtime, UsageContext.of, refresh_usage, failure_text=_failure_text)
    )


@dataclass(frozen=True, kw_only=True)
class UsageContext(PressContext):
    """A press on a usage message: the message, and whether the bot posted it itself."""

    message_ts: str | None
    is_ephemeral: bool
    posted: bool  # by the bot (chat.update), not as a command's reply (its response_url)

    @classmethod
    def of(
        cls, runtime: Runtime, context: AsyncBoltContext, client: AsyncWebClient
    ) -> UsageContext:
        pressed = press_context(runtime, context, client)
        press: ButtonPress = context[ENVELOPE]
        return cls(
            **{field.name: getattr(pressed, field.name) for field in fields(PressContext)},
            message_ts=press.message_ts,
            is_ephemeral=press.container.is_ephemeral,
            posted=press.action.block_id == f"{ids.USAGE_ACTIONS_BLOCK}:message",
        )

    async def replace(self, message: dict[str, Any]) -> str | None:
        """Replace the pressed message; why it could not be, or None when it was."""
        if self.posted and self.message_ts and not self.is_ephemeral:
            try:
                await self.client.chat_update(
                    channel=self.channel_id,
                    ts=self.message_ts,
                    text=message["text"],
                    blocks=message["blocks"],
                )
            except SlackApiError as exc:
                return slack_error(exc)
            except Exception as exc:
                logger.warning("Usage update failed %s: %s", self.log_context(), exc)
                return type(exc).__name__
            return None
        return await self.response_url.send(message | {"replace_original": True})


async def refresh_usage(context: UsageContext) -> None:
    target = ids.decode_usage(context.value)
    alias, token = await aliases.resolve_with_token(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=target.alias,
        fallback=context.runtime.fallback_token,
    )
    now = utcnow()
    bounds = period_bounds(target.period, await context.local_zone(), now)
    try:
        report = await read_usage(
            context.runtime.acedata, token, alias.application_id, bounds=bounds
        )
    except AceDataError as exc:
        logger.warning(
            "Usage refresh failed %s alias=%s: %s", context.log_context(), alias.name, exc
        )
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=alias.application_id, alias=alias.name)
        )
        return
    message = usage_message(
        report,
        alias.name,
        as_of=now,
        console=context.runtime.settings.console,
        posted=context.posted,
    )
    problem = await context.replace(message)
    if problem is not None:
        logger.warning("Usage message not replaced %s: %s", context.log_context(), problem)
        await context.say_privately(usage_not_updated(alias.name, problem))


def _failure_text(exc: Exception) -> str | None:
    if isinstance(exc, AliasNotFound):
        return usage_alias_gone(exc.name)
    return blocks.failure_text(exc)
