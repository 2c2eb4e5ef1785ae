"""The App Home's *Set token* button: the token dialog for an admin; for anyone else, or when
the role cannot be confirmed, a dialog saying why not. The dialog's submission checks again."""

from __future__ import annotations

import logging

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services.errors import DatabaseUnavailable
from ... import blocks, ids
from ...api_errors import slack_error
from ...authz import AdminCheckFailed, is_admin
from ...ingress.envelope import ButtonPress
from ...ingress.middleware import ENVELOPE
from ..pipeline import after_ack

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(ids.HOME_TOKEN_ACTION)
    async def set_token_pressed(
        ack: AsyncAck, body: dict[str, object], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        await ack()
        press: ButtonPress = context[ENVELOPE]
        await after_ack(
            runtime,
            context,
            lambda: open_token_modal(
                runtime,
                client,
                team_id=str(context.team_id),  # the team Bolt authorized
                user_id=press.user.id,
                trigger_id=str(body.get("trigger_id") or ""),
            ),
        )


async def open_token_modal(
    runtime: Runtime, client: AsyncWebClient, *, team_id: str, user_id: str, trigger_id: str
) -> None:
    try:
        allowed = await is_admin(client, runtime.db, team_id=team_id, user_id=user_id)
    except AdminCheckFailed as exc:
        view = blocks.notice_modal(blocks.admin_check_failed(exc.reason))
    except DatabaseUnavailable as exc:
        logger.warning("Home token button: no database team=%s user=%s: %s", team_id, user_id, exc)
        view = blocks.notice_modal(blocks.DATABASE_UNAVAILABLE)
    else:
        if allowed:
            view = blocks.token_modal()
        else:
            logger.info("Refused the token modal for non-admin team=%s user=%s", team_id, user_id)
            view = blocks.notice_modal(blocks.not_admin("set the Ace Data Cloud token"))
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        logger.warning("views.open failed team=%s user=%s: %s", team_id, user_id, slack_error(exc))
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning(
            "views.open failed team=%s user=%s: %s", team_id, user_id, type(exc).__name__
        )
