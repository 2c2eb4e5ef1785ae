"""Modal submissions. The token modal checks the token with Ace Data Cloud before saving it."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ....acedata import AceDataError, InvalidToken, UpstreamTimeout
from ....runtime import Runtime
from ....services.errors import DatabaseOutcomeUnknown, DatabaseUnavailable
from ....services.workspaces import save_token
from ... import blocks, ids
from ...authz import AdminCheckFailed, is_admin
from ...blocks import modals
from ...ingress.envelope import ViewSubmission
from ...ingress.middleware import ENVELOPE, RECEIVED_AT, REPLAY_UNCHECKED

logger = logging.getLogger(__name__)

# A view submission must be answered within Slack's 3 seconds of its arrival, saving included.
ANSWER_DEADLINE = 2.7
# The least time worth starting the save with; less, and the admin is asked to submit again.
SAVE_RESERVE = 0.5
TOKEN_CHECK_DEADLINE = 1.8
MAX_TOKEN_LENGTH = 200


class TokenRefused(Exception):
    """The submitted token is not saved; the message says why, in the modal."""


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(ids.TOKEN_MODAL_CALLBACK)
    async def submit_token(
        ack: AsyncAck, context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        submission: ViewSubmission = context[ENVELOPE]
        # The team Bolt authorized (a Slack Connect modal names its installed team apart from
        # the submitter's): its admins decide, and the token is saved under it.
        team_id, user_id = str(context.team_id), submission.user.id
        loop = asyncio.get_running_loop()
        deadline = (context.get(RECEIVED_AT) or loop.time()) + ANSWER_DEADLINE
        async with runtime.tracked():
            try:
                if context.get(REPLAY_UNCHECKED):
                    raise TokenRefused(modals.TOKEN_DATABASE_PROBLEM)
                try:
                    async with asyncio.timeout_at(deadline - SAVE_RESERVE):
                        token, account = await _check(runtime, client, team_id, submission)
                except TimeoutError:
                    raise TokenRefused(modals.TOKEN_TOO_SLOW) from None
                await _save(
                    runtime, team_id, submission, token, account, timeout=deadline - loop.time()
                )
            except TokenRefused as exc:
                logger.info("Token refused team=%s user=%s: %s", team_id, user_id, exc)
                await ack(response_action="errors", errors={ids.TOKEN_BLOCK: str(exc)})
                return
        logger.info("Token set team=%s user=%s account=%s", team_id, user_id, account)
        await ack(response_action="update", view=blocks.token_saved_view(token[-4:], account))


async def _check(
    runtime: Runtime, client: AsyncWebClient, team_id: str, submission: ViewSubmission
) -> tuple[str, str]:
    """Who may, what was typed, and the token itself: the token and its account's name, or
    TokenRefused saying why not."""
    user_id = submission.user.id
    try:
        allowed = await is_admin(client, runtime.db, team_id=team_id, user_id=user_id)
    except AdminCheckFailed:
        raise TokenRefused(modals.TOKEN_ROLE_UNCONFIRMED) from None
    except DatabaseUnavailable:
        raise TokenRefused(modals.TOKEN_DATABASE_PROBLEM) from None
    if not allowed:
        raise TokenRefused(modals.TOKEN_ADMINS_ONLY)
    token = submission.text_value(ids.TOKEN_BLOCK, ids.TOKEN_ACTION)
    problem = _token_shape_problem(token)
    if problem:
        raise TokenRefused(problem)
    try:
        owner = await runtime.acedata.get_token_owner(token, deadline=TOKEN_CHECK_DEADLINE)
    except InvalidToken:
        raise TokenRefused(modals.TOKEN_REJECTED) from None
    except UpstreamTimeout:
        raise TokenRefused(modals.TOKEN_CHECK_TIMEOUT) from None
    except AceDataError as exc:
        raise TokenRefused(modals.token_check_failed(exc.message)) from None
    return token, owner.display_name


async def _save(
    runtime: Runtime,
    team_id: str,
    submission: ViewSubmission,
    token: str,
    account: str,
    *,
    timeout: float,
) -> None:
    if timeout <= 0:
        raise TokenRefused(modals.TOKEN_TOO_SLOW)
    try:
        await save_token(
            runtime.db,
            team_id=team_id,
            token=token,
            account=account,
            user_id=submission.user.id,
            timeout=timeout,
        )
    except DatabaseOutcomeUnknown:
        raise TokenRefused(modals.TOKEN_SAVE_UNCERTAIN) from None
    except DatabaseUnavailable:
        raise TokenRefused(modals.TOKEN_DATABASE_PROBLEM) from None


def _token_shape_problem(token: str) -> str | None:
    if not token:
        return modals.TOKEN_EMPTY
    if len(token) > MAX_TOKEN_LENGTH or any(char.isspace() for char in token):
        return modals.TOKEN_NOT_ONE_WORD
    if not token.isascii() or not token.isprintable():
        return modals.TOKEN_NOT_ASCII
    return None
