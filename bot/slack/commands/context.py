"""What every `/quota` handler works with: who asked, where, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.async_app import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from ...runtime import Runtime
from ...services.workspaces import require_platform_token
from .. import blocks
from ..authz import require_admin


@dataclass(frozen=True)
class CommandContext:
    runtime: Runtime
    client: AsyncWebClient
    respond: AsyncRespond
    team_id: str
    channel_id: str
    user_id: str
    trigger_id: str

    async def say_privately(self, text: str, blocks_: blocks.Blocks | None = None) -> None:
        await self.respond(response_type="ephemeral", text=text, blocks=blocks_)

    async def require_admin(self, action: str) -> None:
        await require_admin(
            self.client,
            self.runtime.sessions,
            team_id=self.team_id,
            user_id=self.user_id,
            action=action,
        )

    async def token(self) -> str:
        return await require_platform_token(
            self.runtime.sessions, self.team_id, self.runtime.fallback_token
        )
