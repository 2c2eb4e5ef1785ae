"""Modal submissions. The token modal checks the token with Ace Data Cloud before saving it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ..acedata import AceDataError, InvalidToken, UpstreamTimeout
from ..runtime import Runtime
from ..services import audit
from ..services.workspaces import store_token
from . import blocks
from .authz import is_admin

logger = logging.getLogger(__name__)

# The check must finish inside Slack's 3-second window for a view submission.
TOKEN_CHECK_DEADLINE = 1.8
MAX_TOKEN_LENGTH = 200


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(blocks.TOKEN_MODAL_CALLBACK)
    async def submit_token(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        team_id, user_id = body["team"]["id"], body["user"]["id"]

        async def refuse(problem: str) -> None:
            logger.info("Token refused team=%s user=%s: %s", team_id, user_id, problem)
            await ack(response_action="errors", errors={blocks.TOKEN_BLOCK: problem})

        if not await is_admin(client, runtime.sessions, team_id=team_id, user_id=user_id):
            await refuse("Only bot admins can set the Ace Data Cloud token.")
            return
        token = _submitted_token(view)
        problem = _token_shape_problem(token)
        if problem:
            await refuse(problem)
            return
        try:
            owner = await runtime.acedata.get_token_owner(token, deadline=TOKEN_CHECK_DEADLINE)
        except InvalidToken:
            await refuse(
                "Ace Data Cloud rejected this token. Use an account (platform) token from the "
                "console's Platform Tokens page, not a service API key."
            )
            return
        except UpstreamTimeout:
            await refuse("Ace Data Cloud did not answer in time to check the token; submit again.")
            return
        except AceDataError as exc:
            await refuse(f"Could not check the token with Ace Data Cloud: {exc.message[:120]}")
            return
        async with runtime.sessions() as session, session.begin():
            await store_token(
                session,
                team_id=team_id,
                token=token,
                account=owner.display_name,
                user_id=user_id,
            )
            await audit.record(
                session,
                team_id=team_id,
                user_id=user_id,
                action="token_set",
                outcome="changed",
                after=f"…{token[-4:]}",
                detail=owner.display_name,
            )
        logger.info("Token set team=%s user=%s account=%s", team_id, user_id, owner.display_name)
        await ack(
            response_action="update", view=blocks.token_saved_view(token[-4:], owner.display_name)
        )


def _submitted_token(view: dict[str, Any]) -> str:
    values = view.get("state", {}).get("values", {})
    field = values.get(blocks.TOKEN_BLOCK, {}).get(blocks.TOKEN_ACTION, {})
    return (field.get("value") or "").strip()


def _token_shape_problem(token: str) -> str | None:
    if not token:
        return "Paste the platform token."
    if len(token) > MAX_TOKEN_LENGTH or any(char.isspace() for char in token):
        return "That does not look like a platform token (one word, like platform-v1-…)."
    if not token.isascii() or not token.isprintable():
        return "A platform token has only plain ASCII letters, digits and dashes."
    return None
