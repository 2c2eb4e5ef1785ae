"""Modal submissions. The token modal checks the token with Ace Data Cloud before saving it."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ..acedata import AceDataError, InvalidToken, UpstreamTimeout
from ..db.database import DatabaseOutcomeUnknown, DatabaseUnavailable
from ..runtime import Runtime
from ..services.workspaces import save_token
from . import blocks
from .authz import AdminCheckFailed, is_admin
from .envelope import ViewSubmission
from .guards import ENVELOPE, REPLAY_UNCHECKED

logger = logging.getLogger(__name__)

# A view submission must be answered within Slack's 3 seconds, checks and saving included.
ANSWER_BUDGET = 2.5
TOKEN_CHECK_DEADLINE = 1.8
MAX_TOKEN_LENGTH = 200

DATABASE_PROBLEM = "Quota Bot can't reach its database right now — nothing was saved; try again."


class TokenRefused(Exception):
    """The submitted token is not saved; the message says why, in the modal."""


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(blocks.TOKEN_MODAL_CALLBACK)
    async def submit_token(
        ack: AsyncAck, context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        submission: ViewSubmission = context[ENVELOPE]
        team_id, user_id = submission.team.id, submission.user.id
        try:
            if context.get(REPLAY_UNCHECKED):
                raise TokenRefused(DATABASE_PROBLEM)
            async with asyncio.timeout(ANSWER_BUDGET):
                last4, account = await _check_and_save(runtime, client, submission)
        except TokenRefused as exc:
            logger.info("Token refused team=%s user=%s: %s", team_id, user_id, exc)
            await ack(response_action="errors", errors={blocks.TOKEN_BLOCK: str(exc)})
            return
        except TimeoutError:
            logger.warning("Token submission ran out of time team=%s user=%s", team_id, user_id)
            await ack(
                response_action="errors",
                errors={blocks.TOKEN_BLOCK: "That took too long; nothing was saved. Submit again."},
            )
            return
        logger.info("Token set team=%s user=%s account=%s", team_id, user_id, account)
        await ack(response_action="update", view=blocks.token_saved_view(last4, account))


async def _check_and_save(
    runtime: Runtime, client: AsyncWebClient, submission: ViewSubmission
) -> tuple[str, str]:
    """Check who may, what was typed, and the token itself; save it. TokenRefused says why not."""
    team_id, user_id = submission.team.id, submission.user.id
    try:
        allowed = await is_admin(client, runtime.db, team_id=team_id, user_id=user_id)
    except AdminCheckFailed:
        raise TokenRefused(
            "Slack could not confirm your role right now; nothing was saved. Submit again."
        ) from None
    except DatabaseUnavailable:
        raise TokenRefused(DATABASE_PROBLEM) from None
    if not allowed:
        raise TokenRefused("Only bot admins can set the Ace Data Cloud token.")
    token = submission.text_value(blocks.TOKEN_BLOCK, blocks.TOKEN_ACTION)
    problem = _token_shape_problem(token)
    if problem:
        raise TokenRefused(problem)
    try:
        owner = await runtime.acedata.get_token_owner(token, deadline=TOKEN_CHECK_DEADLINE)
    except InvalidToken:
        raise TokenRefused(
            "Ace Data Cloud rejected this token. Use an account (platform) token from the "
            "console's Platform Tokens page, not a service API key."
        ) from None
    except UpstreamTimeout:
        raise TokenRefused(
            "Ace Data Cloud did not answer in time to check the token; submit again."
        ) from None
    except AceDataError as exc:
        raise TokenRefused(
            f"Could not check the token with Ace Data Cloud: {exc.message[:120]}"
        ) from None
    try:
        await save_token(
            runtime.db,
            team_id=team_id,
            token=token,
            account=owner.display_name,
            user_id=user_id,
        )
    except DatabaseOutcomeUnknown:
        raise TokenRefused(
            "The database stopped answering while saving, so the token may or may not be saved; "
            "submit again to be sure."
        ) from None
    except DatabaseUnavailable:
        raise TokenRefused(DATABASE_PROBLEM) from None
    return token[-4:], owner.display_name


def _token_shape_problem(token: str) -> str | None:
    if not token:
        return "Paste the platform token."
    if len(token) > MAX_TOKEN_LENGTH or any(char.isspace() for char in token):
        return "That does not look like a platform token (one word, like platform-v1-…)."
    if not token.isascii() or not token.isprintable():
        return "A platform token has only plain ASCII letters, digits and dashes."
    return None
