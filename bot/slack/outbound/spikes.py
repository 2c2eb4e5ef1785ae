"""Posting a spike check's news: the Slack side of `services.spikes.check`."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...services import spikes
from ...services.delivery import Posted
from ..api_errors import is_transient, slack_error
from ..blocks.spike import calm_message, spike_message, spike_paused
from .direct import direct_message


def notifier(client: AsyncWebClient, console: str) -> spikes.Notify:
    """How a workspace's spike checks are posted: with its own bot token. A spike's end goes in
    the thread of its start, broadcast so the channel sees it."""

    async def notify(news: spikes.SpikeNews) -> Posted:
        watch = news.watch
        thread: dict[str, Any] = {}
        if news.post == "start":
            message = spike_message(news, console=console)
        else:
            message = calm_message(news)
            if watch.state.episode_ts:
                thread = {"thread_ts": watch.state.episode_ts, "reply_broadcast": True}
        try:
            response = await client.chat_postMessage(
                channel=watch.channel_id, text=message.text, blocks=message.blocks, **thread
            )
        except SlackApiError as exc:
            error = slack_error(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = type(exc).__name__[:64]
        else:
            return Posted(str(response.get("ts") or ""))
        return Posted(None, error, retry=is_transient(error))

    return notify


def teller(client: AsyncWebClient) -> spikes.TellWatcher:
    """How whoever set a spike watch is told it stopped: a direct message."""

    async def tell(watch: spikes.SpikeWatch, reason: str) -> None:
        text = spike_paused(watch.channel_id, watch.alias, reason)
        await direct_message(client, watch.created_by, text)

    return tell
