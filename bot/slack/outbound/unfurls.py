"""Console link unfurls: the compact card for one application, and `chat.unfurl`."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...runtime import Runtime
from ...services.quota import read_quota, with_history
from ...services.unfurls import alias_here
from ..api_errors import slack_error
from ..blocks.unfurl import unfurl_blocks

logger = logging.getLogger(__name__)

DEADLINE = 5.0


async def unfurl_card(
    runtime: Runtime, token: str, team_id: str, channel: str, application_id: str
) -> list[dict[str, Any]] | None:
    """The unfurl of `application_id` in `channel`, or None when no alias of it is visible
    there (logged); AceDataError when the workspace's token cannot read it."""
    alias = await alias_here(
        runtime.db, team_id=team_id, channel_id=channel, application_id=application_id
    )
    if alias is None:
        logger.info("Console link not unfurled team=%s channel=%s: no alias here", team_id, channel)
        return None
    snapshot = await read_quota(runtime.acedata, token, application_id, deadline=DEADLINE)
    snapshot = await with_history(runtime.db, team_id, snapshot)
    return unfurl_blocks(snapshot, alias.name)


async def send_unfurl(
    client: AsyncWebClient, team_id: str, channel: str, ts: str, unfurls: dict[str, Any]
) -> str | None:
    """`chat.unfurl`; why Slack refused it (logged), or None."""
    try:
        await client.chat_unfurl(channel=channel, ts=ts, unfurls=unfurls)
    except SlackApiError as exc:
        problem = slack_error(exc)
    except (aiohttp.ClientError, TimeoutError) as exc:
        problem = type(exc).__name__
    else:
        return None
    logger.warning("chat.unfurl refused team=%s channel=%s: %s", team_id, channel, problem)
    return problem
