"""Who may change things: Slack workspace admins and owners, and the listed bot admins."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..services.permissions import is_listed_admin

logger = logging.getLogger(__name__)

SLACK_ADMIN_FLAGS = ("is_admin", "is_owner", "is_primary_owner")


class NotAdmin(Exception):
    """The acting user is not a bot admin; `action` says what they tried."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


async def is_admin(
    client: AsyncWebClient,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    user_id: str,
) -> bool:
    async with sessions() as session:
        if await is_listed_admin(session, team_id=team_id, user_id=user_id):
            return True
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError as exc:
        logger.warning(
            "users.info failed for team=%s user=%s: %s", team_id, user_id, exc.response.get("error")
        )
        return False
    user = response.get("user") or {}
    return any(bool(user.get(flag)) for flag in SLACK_ADMIN_FLAGS)


async def require_admin(
    client: AsyncWebClient,
    sessions: async_sessionmaker[AsyncSession],
    *,
    team_id: str,
    user_id: str,
    action: str,
) -> None:
    if not await is_admin(client, sessions, team_id=team_id, user_id=user_id):
        logger.info("Refused %s for non-admin team=%s user=%s", action, team_id, user_id)
        raise NotAdmin(action)
