"""Posting an alert check's news in its channel: the Slack side of `services.alerts.check`."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...services import alerts
from ...services.alert_levels import Level
from ...services.delivery import Posted
from .. import blocks
from ..api_errors import is_transient, slack_error
from ..blocks.alert import alert_message, recovered_message
from .direct import direct_message


def notifier(client: AsyncWebClient, console: str) -> alerts.Notify:
    """How a workspace's alert checks are posted: with its own bot token, with links to
    `console`."""

    async def notify(check: alerts.Check) -> Posted:
        watch, decision = check.watch, check.decision
        if decision.post is not None:
            message = alert_message(
                watch.alias, decision.post, check.snapshot, watch.threshold, console=console
            )
        else:
            message = recovered_message(watch.alias, check.snapshot)
        try:
            response = await client.chat_postMessage(
                channel=watch.channel_id, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            error = slack_error(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = type(exc).__name__[:64]
        else:
            return Posted(str(response.get("ts") or ""))
        return Posted(None, error, retry=is_transient(error))

    return notify


def updater(client: AsyncWebClient, console: str) -> alerts.Update:
    """How the message saying a quota ran out is updated in place with what it has cost since
    (`chat.update`, never a new post); Slack's error, or None."""

    async def update(check: alerts.Check, ts: str, impact: alerts.Impact) -> str | None:
        watch = check.watch
        message = alert_message(
            watch.alias,
            max(check.level, Level.EXHAUSTED),
            check.snapshot,
            watch.threshold,
            console=console,
            impact=impact,
        )
        try:
            await client.chat_update(
                channel=watch.channel_id, ts=ts, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            return slack_error(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__[:64]
        return None

    return update


def teller(client: AsyncWebClient) -> alerts.TellWatcher:
    """How whoever set an alert is told it stopped: a direct message."""

    async def tell(watch: alerts.Watch, error: str) -> None:
        text = blocks.alert_paused(watch.channel_id, watch.alias, error)
        await direct_message(client, watch.created_by, text)

    return tell
