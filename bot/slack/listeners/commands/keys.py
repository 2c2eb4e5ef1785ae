"""`/quota keys <alias>` (admins): the application's API keys, with a cap, pause and resume
button each.

The list is posted in the channel by the bot (it shows no secret: names, spend, caps and
expiry), so that it can be updated in place after a change — from a button or from the cap
dialog, which has no response_url — and so that each change is noted in its thread where the
channel sees it, like the fallback switch's."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError

from ....acedata import AceDataError
from ....services import aliases
from ....services.keys import read_keys
from ... import blocks
from ...api_errors import slack_error
from ...blocks import keys as key_blocks
from ..context import CommandContext
from .grammar import ListKeys

logger = logging.getLogger(__name__)

KEYS_DEADLINE = 8.0


async def list_keys(context: CommandContext, request: ListKeys) -> None:
    await context.require_admin("list an application's API keys")
    alias, token = await aliases.resolve_with_token(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        name=request.alias,
        fallback=context.runtime.fallback_token,
    )
    try:
        listed = await read_keys(
            context.runtime.acedata,
            context.runtime.db,
            token,
            team_id=context.team_id,
            application_id=alias.application_id,
            deadline=KEYS_DEADLINE,
        )
    except AceDataError as exc:
        logger.warning(
            "Key list failed %s alias=%s application=%s: %s",
            context.log_context(),
            alias.name,
            alias.application_id,
            exc,
        )
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=alias.application_id, alias=alias.name)
        )
        return
    if not listed.keys:
        await context.say_privately(key_blocks.no_keys(alias.name))
        return
    try:
        await context.client.chat_postMessage(
            channel=context.channel_id,
            text=key_blocks.keys_text(alias.name, listed),
            blocks=key_blocks.keys_message(alias.name, listed),
        )
    except SlackApiError as exc:
        error = slack_error(exc)
    except (aiohttp.ClientError, TimeoutError) as exc:
        error = type(exc).__name__
    else:
        return
    logger.info("Keys list not posted %s: %s", context.log_context(), error)
    await context.say_privately(key_blocks.keys_not_posted(error))
