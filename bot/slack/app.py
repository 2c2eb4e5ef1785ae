"""The Bolt app factory: one AsyncApp, listener groups registered by their modules."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from ..runtime import Runtime
from . import blocks
from .ingress import middleware
from .install.oauth import create_oauth_flow
from .install.tokens import SlackAccess, TokenAuthorize
from .listeners import register as register_listeners

logger = logging.getLogger(__name__)


class _DropTokenSkippedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and, since we hand it a client
    made with that same token, warns on every start that the token "will be unused"."""

    _message = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._message


def create_app(runtime: Runtime, access: SlackAccess) -> AsyncApp:
    """The Bolt app. Request signatures are verified before Bolt sees a request (`bot.web`),
    and Socket Mode needs none, so Bolt's own verification is off. Each request's bot token
    comes from `access`: the installation of its workspace (OAuth mode) or SLACK_BOT_TOKEN's
    identity, which never makes a request wait long for Slack."""
    bolt_logger = logging.getLogger("bot.slack.bolt")
    if not any(isinstance(f, _DropTokenSkippedWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_DropTokenSkippedWarning())

    client = runtime.web_client(None)  # the token comes with each request's authorization
    oauth_flow = (
        create_oauth_flow(runtime, access.store, client) if access.store is not None else None
    )
    app = AsyncApp(
        client=client,
        authorize=TokenAuthorize(access.tokens),
        oauth_flow=oauth_flow,
        user_facing_authorize_error_message=(
            blocks.NOT_INSTALLED if oauth_flow is not None else blocks.SLACK_UNREACHABLE
        ),
        request_verification_enabled=False,
        logger=bolt_logger,
    )
    middleware.register(app, runtime)
    register_listeners(app, runtime)

    @app.error
    async def log_unhandled(error: Exception, body: dict[str, Any]) -> None:
        team = body.get("team")
        logger.error(
            "Unhandled %s in a Slack listener (team=%s): %s",
            type(error).__name__,
            body.get("team_id") or (team.get("id") if isinstance(team, dict) else team),
            error,
        )

    return app
