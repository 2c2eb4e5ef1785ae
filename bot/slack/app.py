"""The Bolt app factory: one AsyncApp, listener groups registered by their modules."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from ..runtime import Runtime
from . import actions, commands, guards, views

logger = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, socket_mode: bool = False) -> AsyncApp:
    """The Bolt app; over HTTP every request must carry Slack's signature."""
    settings = runtime.settings
    settings.require("slack_bot_token", *(() if socket_mode else ("slack_signing_secret",)))
    secret = settings.slack_signing_secret
    bot_token = settings.slack_bot_token.get_secret_value()  # type: ignore[union-attr]
    client = AsyncWebClient(
        token=bot_token,
        base_url=str(settings.slack_api_url),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=not socket_mode,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    guards.register(app, runtime)
    commands.register(app, runtime)
    actions.register(app, runtime)
    views.register(app, runtime)

    @app.error
    async def log_unhandled(error: Exception, body: dict[str, Any]) -> None:
        logger.error(
            "Unhandled %s in a Slack listener (team=%s): %s",
            type(error).__name__,
            body.get("team_id") or (body.get("team") or {}).get("id"),
            error,
        )

    return app
