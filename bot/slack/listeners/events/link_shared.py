"""Console links unfurl as a compact quota card (`link_shared` → `chat.unfurl`).

Bolt acknowledges the event at once; the checks and the read come after. A link unfurls only
if the workspace's own Ace Data Cloud token can read the application and an alias of it is
visible in the channel; any other link, a message still being written (no channel to check),
or any failure gets no unfurl and one log line — never a word that the application exists."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ....acedata import AceDataError
from ....runtime import Runtime
from ....services.errors import NoTokenConfigured, TokenUnreadable
from ....services.unfurls import applications_in
from ....services.workspaces import platform_token
from ...outbound.unfurls import send_unfurl, unfurl_card
from ..pipeline import after_ack

logger = logging.getLogger(__name__)

_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,31}")
_TS = re.compile(r"\d{1,12}\.\d{1,8}")


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("link_shared")
    async def link_shared(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        channel, ts = event.get("channel"), event.get("message_ts")
        if not (
            isinstance(channel, str)
            and _CHANNEL.fullmatch(channel)
            and isinstance(ts, str)
            and _TS.fullmatch(ts)
        ):
            return  # a message being written (the composer): no channel to check it against
        links = event.get("links")
        urls = [
            str(link.get("url"))
            for link in (links if isinstance(links, list) else [])[:20]
            if isinstance(link, dict) and isinstance(link.get("url"), str)
        ]
        team_id = str(context.team_id)  # the team Bolt authorized
        await after_ack(
            runtime, context, lambda: unfurl(runtime, client, team_id, channel, ts, urls)
        )


async def unfurl(
    runtime: Runtime, client: AsyncWebClient, team_id: str, channel: str, ts: str, urls: list[str]
) -> None:
    found = applications_in(urls, runtime.settings.console)
    if not found:
        return
    try:
        token = await platform_token(runtime.db, team_id, runtime.fallback_token)
    except (NoTokenConfigured, TokenUnreadable):
        logger.info("Console link not unfurled team=%s: no token", team_id)
        return
    unfurls = {}
    for url, application_id in found.items():
        try:
            blocks_ = await unfurl_card(runtime, token, team_id, channel, application_id)
        except AceDataError as exc:  # not this account's, or Ace Data Cloud failing
            logger.info("Console link not unfurled team=%s channel=%s: %s", team_id, channel, exc)
            continue
        if blocks_ is not None:
            unfurls[url] = {"blocks": blocks_}
    if unfurls:
        await send_unfurl(client, team_id, channel, ts, unfurls)
