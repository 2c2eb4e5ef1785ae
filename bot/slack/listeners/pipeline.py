"""The one way a listener runs its work after the ack: tracked for a graceful shutdown, checked
for a replay, with its context built, and every failure turned into a private sentence."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ...runtime import Runtime
from .. import blocks
from ..ids import InvalidButtonValue
from ..ingress.envelope import ButtonPress
from ..ingress.middleware import ENVELOPE, REPLAY_UNCHECKED, first_delivery
from ..outbound.response_url import ResponseUrl
from .context import InteractionContext, PressContext

logger = logging.getLogger(__name__)

ContextT = TypeVar("ContextT", bound=InteractionContext)
Listener = Callable[..., Awaitable[None]]
FailureText = Callable[[Exception], "str | None"]


async def after_ack(runtime: Runtime, context: AsyncBoltContext, work: Callable[[], Any]) -> None:
    """Run `work` once this request is known not to be a replay, tracked so that a shutdown
    waits for it."""
    async with runtime.tracked():
        if await first_delivery(context):
            await work()


async def run_answering_failures(
    interaction: ContextT,
    work: Callable[[ContextT], Awaitable[None]],
    *,
    failure_text: FailureText = blocks.failure_text,
    what: str,
) -> None:
    """Run `work`; an expected failure becomes its sentence, anything else INTERNAL_ERROR and a
    logged traceback. Either way the user is told privately."""
    try:
        await work(interaction)
    except InvalidButtonValue as exc:
        logger.warning("Invalid button (%s) %s: %s", what, interaction.log_context(), exc)
        await interaction.say_privately(blocks.INVALID_BUTTON)
    except Exception as exc:
        text = failure_text(exc)
        if text is None:
            logger.exception("Failed %s for %s", what, interaction.log_context())
            text = blocks.INTERNAL_ERROR
        else:
            logger.info(
                "%s on %s for %s: %s", type(exc).__name__, what, interaction.log_context(), exc
            )
        await interaction.say_privately(text)


def press_context(
    runtime: Runtime, context: AsyncBoltContext, client: AsyncWebClient
) -> PressContext:
    """The context of a plain button press; InvalidButtonValue when it names no channel."""
    press: ButtonPress = context[ENVELOPE]
    if not press.channel_id:
        raise InvalidButtonValue("no channel")
    return PressContext(
        runtime=runtime,
        client=client,
        response_url=ResponseUrl.of(runtime, press.response_url),
        team_id=str(context.team_id),  # the team Bolt authorized
        user_id=press.user.id,
        channel_id=press.channel_id,
        replay_unchecked=bool(context.get(REPLAY_UNCHECKED)),
        value=press.action.value,
    )


def button(
    runtime: Runtime,
    build: Callable[[Runtime, AsyncBoltContext, AsyncWebClient], ContextT],
    work: Callable[[ContextT], Awaitable[None]],
    *,
    failure_text: FailureText = blocks.failure_text,
) -> Listener:
    """A button's listener: ack at once, then `work` in the context `build` makes."""
    what = work.__name__

    async def listener(ack: AsyncAck, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()

        async def run() -> None:
            try:
                interaction = build(runtime, context, client)
            except InvalidButtonValue as exc:
                logger.warning("Unusable button press (%s) team=%s: %s", what, context.team_id, exc)
                return
            await run_answering_failures(interaction, work, failure_text=failure_text, what=what)

        await after_ack(runtime, context, run)

    return listener
