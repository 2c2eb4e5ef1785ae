"""What every Slack interaction works with: who acted, where, and the workspace's token."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.async_app import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ..runtime import Runtime
from ..services.workspaces import require_platform_token
from .authz import require_admin


@dataclass(frozen=True)
class InteractionContext:
    runtime: Runtime
    client: AsyncWebClient
    respond: AsyncRespond
    team_id: str
    user_id: str
    channel_id: str

    async def require_admin(self, action: str) -> None:
        """NotAdmin, naming `action`, unless the acting user is a bot admin."""
        await require_admin(
            self.client,
            self.runtime.sessions,
            team_id=self.team_id,
            user_id=self.user_id,
            action=action,
        )

    async def token(self) -> str:
        """The workspace's Ace Data Cloud token, or NoTokenConfigured."""
        return await require_platform_token(
            self.runtime.sessions, self.team_id, self.runtime.fallback_token
        )
