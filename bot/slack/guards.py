"""Checks on every Slack request after its signature is verified, before any listener runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncBoltRequest

from ..runtime import Runtime
from ..services.replays import first_time_seen
from . import blocks

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.middleware
    async def refuse_replays(
        req: AsyncBoltRequest, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        signature = _header(req, "x-slack-signature")
        # Slack's own redeliveries of events carry x-slack-retry-num and are Bolt's to handle.
        is_redelivery = _header(req, "x-slack-retry-num") is not None
        if (
            signature
            and not is_redelivery
            and not await first_time_seen(runtime.sessions, signature)
        ):
            logger.warning("Refused a replayed Slack request")
            return BoltResponse(status=401, body="This request was already received.")
        return await next()

    @app.middleware
    async def serve_only_the_installed_workspace(
        context: AsyncBoltContext, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        installed = context.authorize_result.team_id if context.authorize_result else None
        acting = {context.team_id, (body.get("user") or {}).get("team_id")} - {None}
        if installed and acting - {installed}:
            logger.warning(
                "Refused a request from workspace(s) %s; this bot serves %s",
                sorted(acting - {installed}),
                installed,
            )
            if body.get("command"):
                message = {"response_type": "ephemeral", "text": blocks.OTHER_WORKSPACE}
                return BoltResponse(
                    status=200,
                    body=json.dumps(message),
                    headers={"content-type": "application/json"},
                )
            return BoltResponse(status=200, body="")
        return await next()


def _header(req: AsyncBoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if values else None
