"""*Post quota card* (anyone in the workspace): the alias's card posted in a channel, its
buttons working as a posted card's do; the step's output is the message."""

from __future__ import annotations

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from ....runtime import Runtime
from ... import blocks, ids
from ...blocks import steps as step_blocks
from .step import Step, StepFailed, register_step


def register(app: AsyncApp, runtime: Runtime) -> None:
    register_step(app, runtime, ids.POST_CARD_STEP, post_quota_card)


async def post_quota_card(step: Step) -> None:
    await step.user()
    channel = step.channel(required=True)
    assert channel is not None
    alias = await step.alias(channel)
    snapshot = await step.quota(alias)
    card = blocks.quota_card(
        snapshot, alias.name, origin="message", console=step.runtime.settings.console
    )
    try:
        posted = await step.client.chat_postMessage(
            channel=channel, text=blocks.quota_card_text(snapshot, alias.name), blocks=card
        )
    except (SlackApiError, aiohttp.ClientError, TimeoutError):
        raise StepFailed(step_blocks.CANNOT_POST) from None
    await step.complete(outputs={"message_ts": str(posted["ts"])})
