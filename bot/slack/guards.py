"""Checks on every Slack request after its signature is verified, before any listener runs:
its shape, that it is not a replay, and that it comes from the workspace the bot serves."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncBoltRequest

from ..db.database import DatabaseUnavailable
from ..runtime import Runtime
from ..services.replays import first_time_seen
from . import blocks, envelope

logger = logging.getLogger(__name__)

# Keys under which the guards leave what they learned in Bolt's context for the listeners.
ENVELOPE = "quota_bot_envelope"
REPLAY_UNCHECKED = "quota_bot_replay_unchecked"
RECEIVED_AT = "quota_bot_received_at"  # the event loop's clock when the request arrived
# The replay check runs before the ack, which Slack wants within 3 s.
REPLAY_CHECK_BUDGET = 1.0


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.middleware
    async def refuse_malformed(
        req: AsyncBoltRequest, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        if ENVELOPE in req.context:  # read before dispatch, over HTTP (bot.web)
            return await next()
        try:  # Socket Mode
            req.context[ENVELOPE] = envelope.read(req.body)
        except ValueError as exc:
            logger.warning(
                "Refused a malformed Slack request (team=%s): %s", req.context.team_id, exc
            )
            return BoltResponse(status=400, body="Malformed request.")
        return await next()

    @app.middleware
    async def refuse_replays(
        req: AsyncBoltRequest, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        signature = _header(req, "x-slack-signature")
        if signature is None:  # Socket Mode: Slack's own connection, nothing to replay
            return await next()
        budget = min(REPLAY_CHECK_BUDGET, runtime.settings.database_timeout)
        try:
            fresh = await first_time_seen(runtime.db, signature, timeout=budget)
        except DatabaseUnavailable as exc:
            # Fail closed for changes only: listeners refuse anything that changes state.
            logger.warning("Replay check unavailable (team=%s): %s", req.context.team_id, exc)
            req.context[REPLAY_UNCHECKED] = True
            return await next()
        if not fresh:
            logger.warning("Refused a replayed Slack request (team=%s)", req.context.team_id)
            return BoltResponse(status=401, body="This request was already received.")
        return await next()

    @app.middleware
    async def serve_only_the_installed_workspace(
        context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        installed = context.authorize_result.team_id if context.authorize_result else None
        request = context.get(ENVELOPE)
        user_team = request.user.team_id if isinstance(request, envelope.ButtonPress) else None
        acting = {context.team_id, user_team} - {None}
        if installed and acting - {installed}:
            logger.warning(
                "Refused a request from workspace(s) %s; this bot serves %s",
                sorted(acting - {installed}),
                installed,
            )
            if isinstance(request, envelope.SlashCommand):
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
