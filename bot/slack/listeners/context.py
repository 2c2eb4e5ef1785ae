"""What every Slack interaction works with: who acted, where, how to answer, and the common
ways it can fail."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...runtime import Runtime
from ...services import digests, heartbeats
from ...services.clock import utcnow
from ...services.errors import (
    AdminCheckFailed,
    DatabaseUnavailable,
    NotAdmin,
    NoTokenConfigured,
)
from ...services.usage import known_zone
from ...services.workspaces import platform_token
from .. import blocks
from ..api_errors import slack_error
from ..authz import require_admin
from ..outbound.response_url import ResponseUrl

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class InteractionContext:
    runtime: Runtime
    client: AsyncWebClient
    response_url: ResponseUrl
    team_id: str
    user_id: str
    channel_id: str
    # The replay check could not run (database trouble): nothing that changes state may proceed.
    replay_unchecked: bool = False
    # A private reply to a button press must never replace the message that holds the button.
    keeps_original: ClassVar[bool] = False

    async def require_admin(self, action: str) -> None:
        """NotAdmin, naming `action`, unless the acting user is a bot admin."""
        await require_admin(
            self.client, self.runtime.db, team_id=self.team_id, user_id=self.user_id, action=action
        )

    async def token(self) -> str:
        """The workspace's Ace Data Cloud token, or NoTokenConfigured (TokenUnreadable)."""
        return await platform_token(self.runtime.db, self.team_id, self.runtime.fallback_token)

    async def authorized_token(
        self,
        action: str,
        check_target: Callable[[], Awaitable[None]],
        record: Callable[[str, str], Awaitable[None]],
        refused: tuple[type[Exception], ...],
    ) -> str:
        """The workspace's token for a guarded change, once the acting user is known to be an
        admin (NotAdmin naming `action`) and `check_target()` passed (raising one of
        `refused`). Each refusal or failure is recorded with `record(outcome, detail)` before
        it is raised."""
        try:
            await self.require_admin(action)
            await check_target()
        except (NotAdmin, *refused) as exc:
            await record("refused", type(exc).__name__)
            raise
        except AdminCheckFailed as exc:
            await record("failed", f"users.info: {exc.reason}")
            raise
        try:
            return await self.token()
        except NoTokenConfigured:
            await record("failed", "no token")
            raise

    def require_replay_checked(self) -> None:
        """Refuse a change whose request could not be checked for a replay."""
        if self.replay_unchecked:
            raise DatabaseUnavailable("the replay check could not run")

    async def respond(self, message: dict[str, Any], *, what: str) -> bool:
        """Post to the response_url; a failure is logged with its context, and False."""
        problem = await self.response_url.send(message)
        if problem is not None:
            logger.warning(
                "Could not deliver %s team=%s channel=%s user=%s: %s",
                what,
                self.team_id,
                self.channel_id,
                self.user_id,
                problem,
            )
        return problem is None

    async def say_privately(self, text: str, blocks_: blocks.Blocks | None = None) -> bool:
        message: dict[str, Any] = {"response_type": "ephemeral", "text": text}
        if blocks_ is not None:
            message["blocks"] = blocks_
        if self.keeps_original:
            message["replace_original"] = False
        return await self.respond(message, what="a private reply")

    async def announce(self, text: str) -> str | None:
        """Post `text` in the channel before saving what it announces: the message's ts, or
        None when Slack would not let the bot post there (the user has been told how to invite
        it, and nothing is to be saved)."""
        try:
            response = await self.client.chat_postMessage(channel=self.channel_id, text=text)
        except SlackApiError as exc:
            error = slack_error(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = type(exc).__name__
        else:
            return str(response["ts"])
        logger.info("Slack would not take a post %s: %s", self.log_context(), error)
        await self.say_privately(blocks.cannot_post_here(error))
        return None

    async def announce_then_save(self, text: str, save: Callable[[], Awaitable[object]]) -> bool:
        """Post `text` here, then `save()` what it announces: posting first proves the bot may
        post here. False, with nothing saved, when it may not (the user has been told); a save
        that fails withdraws the post and raises."""
        confirmation = await self.announce(text)
        if confirmation is None:
            return False
        try:
            await save()
        except Exception:
            await self.withdraw(confirmation)
            raise
        return True

    async def withdraw(self, ts: str) -> None:
        """Delete a message the bot just posted here for something that then failed, so the
        channel is not told of what does not exist."""
        try:
            await self.client.chat_delete(channel=self.channel_id, ts=ts)
        except Exception as exc:
            logger.warning("Could not withdraw a message %s: %s", self.log_context(), exc)

    async def scheduler_warning(self) -> str | None:
        """For an admin, the sentence saying no worker is sending digests and alerts, when no
        scheduler round has run for a while; None otherwise (or when the role is unknown)."""
        status = await heartbeats.scheduler_status(
            self.runtime.db, now=utcnow(), poll_seconds=self.runtime.settings.worker_poll_seconds
        )
        if not status.silent:
            return None
        try:
            await self.require_admin("see the scheduler's state")
        except (NotAdmin, AdminCheckFailed):
            return None
        return blocks.NO_WORKER

    def log_context(self) -> str:
        return f"team={self.team_id} channel={self.channel_id} user={self.user_id}"

    async def users_zone(self) -> ZoneInfo | None:
        """The acting user's time zone as Slack knows it, if it can say."""
        try:
            response = await self.client.users_info(user=self.user_id)
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            return None
        user = response.get("user") or {}
        return known_zone(str(user.get("tz") or "")) if isinstance(user, dict) else None

    async def local_zone(self) -> ZoneInfo:
        """The zone days are counted in here: the channel's digest zone, else the acting
        user's Slack zone, else UTC."""
        found = await digests.channel_schedule(
            self.runtime.db, team_id=self.team_id, channel_id=self.channel_id
        )
        if found is not None:
            return found[0].schedule.zone
        return await self.users_zone() or ZoneInfo("UTC")


@dataclass(frozen=True, kw_only=True)
class CommandContext(InteractionContext):
    """A `/quota` command: its trigger opens dialogs."""

    trigger_id: str


@dataclass(frozen=True, kw_only=True)
class PressContext(InteractionContext):
    """A button press: private replies go beside the pressed message, never over it."""

    value: str | None = None  # the pressed button's value, untrusted
    keeps_original: ClassVar[bool] = True
