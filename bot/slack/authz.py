"""Who may change things: Slack workspace admins and owners, and the listed bot admins."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..db.database import Database
from ..services.errors import AdminCheckFailed, NotAdmin
from ..services.permissions import is_listed_admin
from .api_errors import slack_error

logger = logging.getLogger(__name__)

SLACK_ADMIN_FLAGS = ("is_admin", "is_owner", "is_primary_owner")
# Slack's answers that mean "no such user", as opposed to "could not tell right now".
_NO_SUCH_USER = {"user_not_found", "user_not_visible"}


async def is_admin(client: AsyncWebClient, db: Database, *, team_id: str, user_id: str) -> bool:
    """Listed bot admin, or a Slack workspace admin or owner; AdminCheckFailed when Slack
    cannot say."""
    if await is_listed_admin(db, team_id=team_id, user_id=user_id):
        return True
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError as exc:
        error = slack_error(exc)
        logger.warning("users.info failed for team=%s user=%s: %s", team_id, user_id, error)
        if error in _NO_SUCH_USER:
            return False
        raise AdminCheckFailed(error) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning(
            "users.info failed for team=%s user=%s: %s", team_id, user_id, type(exc).__name__
        )
        raise AdminCheckFailed(type(exc).__name__) from None
    user = response.get("user") or {}
    return isinstance(user, dict) and any(bool(user.get(flag)) for flag in SLACK_ADMIN_FLAGS)


async def require_admin(
    client: AsyncWebClient, db: Database, *, team_id: str, user_id: str, action: str
) -> None:
    if not await is_admin(client, db, team_id=team_id, user_id=user_id):
        logger.info("Refused %s for non-admin team=%s user=%s", action, team_id, user_id)
        raise NotAdmin(action)
