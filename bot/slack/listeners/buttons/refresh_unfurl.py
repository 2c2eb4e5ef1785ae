"""*Refresh* on a console link's unfurl (anyone): the link's application is read again and the
unfurl replaced — after checking that the button names the link's application and that an
alias of it is still visible in the channel, for the acting workspace."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services.unfurls import application_in
from ... import ids
from ...blocks import unfurl as unfurl_blocks
from ...ids import InvalidButtonValue
from ...ingress.envelope import ButtonPress
from ...ingress.middleware import ENVELOPE
from ...outbound.unfurls import send_unfurl, unfurl_card
from ..context import PressContext
from ..pipeline import button, press_context


@dataclass(frozen=True, kw_only=True)
class UnfurlPress(PressContext):
    """A press in an unfurl: the message it is attached to and the link it unfurls."""

    message_ts: str
    url: str

    @classmethod
    def of(cls, runtime: Runtime, context: AsyncBoltContext, client: AsyncWebClient) -> Self:
        pressed = press_context(runtime, context, client)
        press: ButtonPress = context[ENVELOPE]
        container = press.container
        if not (container.is_app_unfurl and container.app_unfurl_url and press.message_ts):
            raise InvalidButtonValue("not a press in an unfurl")
        return cls(
            **{field.name: getattr(pressed, field.name) for field in fields(PressContext)},
            message_ts=press.message_ts,
            url=container.app_unfurl_url,
        )


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(ids.UNFURL_REFRESH_ACTION)(button(runtime, UnfurlPress.of, refresh_unfurl))


async def refresh_unfurl(context: UnfurlPress) -> None:
    target = ids.decode_target(context.value)
    if target.alias is None or application_in(context.url, context.runtime.settings.console) != (
        target.application_id
    ):
        raise InvalidButtonValue("the button does not name the link's application")
    card = await unfurl_card(
        context.runtime,
        await context.token(),
        context.team_id,
        context.channel_id,
        target.application_id,
    )
    if card is None:
        await context.say_privately(unfurl_blocks.UNFURL_GONE)
        return
    problem = await send_unfurl(
        context.client,
        context.team_id,
        context.channel_id,
        context.message_ts,
        {context.url: {"blocks": card}},
    )
    if problem is not None:
        await context.say_privately(unfurl_blocks.unfurl_not_refreshed(problem))
