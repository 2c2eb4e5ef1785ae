"""Which bot token serves a workspace, for requests (Bolt's `authorize`) and for the work the
worker starts itself: SLACK_BOT_TOKEN's one workspace, or in OAuth mode each installation's own,
refreshed before it expires when the app uses token rotation.

A workspace is (enterprise id, team id). Slack's team IDs are unique across Slack, so our data is
keyed by team ID; the enterprise is recorded on the workspace so that the teams of an org-wide
install find their installation from the worker, outside any request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackClientError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import ColumnElement, and_, desc, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ...db.database import Database, DatabaseUnavailable
from ...db.installations import EncryptedInstallationStore, installation_store
from ...db.models import Workspace
from ...runtime import Runtime
from ...services.locks import LockBusy, application_lock
from ...services.workspaces import record_enterprise
from ..api_errors import slack_error
from .identity import BotIdentity

logger = logging.getLogger(__name__)

# Refresh a rotating token this long before it expires (Bolt's own default).
ROTATE_MINUTES_BEFORE_EXPIRY = 120
# How long a request waits for its installation before the user is told (Slack wants the ack
# within 3 s).
AUTHORIZE_BUDGET = 1.0
# The lock row every process takes to refresh a workspace's bot token, and how long to wait.
REFRESH_LOCK = "slack-bot-token-refresh"
REFRESH_LOCK_WAIT = 5.0


@dataclass(frozen=True)
class WorkspaceBot:
    token: str
    team_id: str | None
    enterprise_id: str | None
    bot_user_id: str | None
    bot_id: str | None

    def authorize_result(self, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=self.enterprise_id,
            team_id=self.team_id or team_id,
            bot_user_id=self.bot_user_id,
            bot_id=self.bot_id,
            bot_token=self.token,
        )


class SlackTokens(Protocol):
    async def for_request(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> WorkspaceBot | None: ...

    async def for_team(self, team_id: str) -> WorkspaceBot | None: ...


class SingleWorkspaceTokens:
    """SLACK_BOT_TOKEN: one workspace, whose identity `auth.test` gives (in the background)."""

    def __init__(self, identity: BotIdentity) -> None:
        self._identity = identity

    async def for_request(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> WorkspaceBot | None:
        return _from_result(await self._identity.authorize())

    async def for_team(self, team_id: str) -> WorkspaceBot | None:
        bot = _from_result(await self._identity.learn())
        return bot if bot is not None and bot.team_id == team_id else None


def _from_result(result: AuthorizeResult | None) -> WorkspaceBot | None:
    if result is None or result.bot_token is None:
        return None
    return WorkspaceBot(
        token=result.bot_token,
        team_id=result.team_id,
        enterprise_id=result.enterprise_id,
        bot_user_id=result.bot_user_id,
        bot_id=result.bot_id,
    )


class InstalledTokens:
    """OAuth mode: each workspace's bot from the installation store; a rotating token is
    refreshed (once per workspace at a time) and saved before it is used."""

    def __init__(
        self,
        store: EncryptedInstallationStore,
        db: Database,
        *,
        client_id: str,
        client_secret: str,
        client: AsyncWebClient,
    ) -> None:
        self._store = store
        self._db = db
        self._rotator = AsyncTokenRotator(
            client_id=client_id, client_secret=client_secret, client=client
        )
        self._rotating: dict[tuple[str | None, str | None], asyncio.Lock] = {}
        self._unsaved: dict[tuple[str | None, str | None], Bot] = {}
        self._enterprises_recorded: set[str] = set()

    async def for_request(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> WorkspaceBot | None:
        # A workspace's own installation wins over any org-wide one, whatever org the request
        # names (team IDs are unique across Slack).
        bot = await self._own(team_id) if team_id else None
        if bot is None:
            bot = await self._find(
                enterprise_id=enterprise_id, team_id=team_id, org_wide=is_enterprise_install
            )
        if bot is not None and bot.is_enterprise_install and team_id and enterprise_id:
            await self._remember_enterprise(team_id, enterprise_id)
        return await self._usable(bot)

    async def for_team(self, team_id: str) -> WorkspaceBot | None:
        """The bot of `team_id`: its own installation's, else its org's org-wide one (the org
        as recorded by an earlier request)."""
        bot = await self._own(team_id)
        if bot is None:
            bot = await self._latest(_org_wide_of(self._store, team_id))
        return await self._usable(bot)

    async def _own(self, team_id: str) -> Bot | None:
        """The workspace's own installation's bot (not an org-wide one), if it has one."""
        bots = self._store.bots
        return await self._latest(bots.c.team_id == team_id)

    async def _latest(self, which: ColumnElement[bool]) -> Bot | None:
        bots = self._store.bots
        query = (
            bots.select()
            .where(bots.c.client_id == self._store.client_id, bots.c.bot_token.is_not(None), which)
            .order_by(desc(bots.c.installed_at))
            .limit(1)
        )

        async def read(session: AsyncSession) -> Bot | None:
            row = (await session.execute(query)).mappings().first()
            return SQLAlchemyInstallationStore.build_bot_entity(row) if row else None

        return await self._db.run(read)

    async def _find(
        self, *, enterprise_id: str | None, team_id: str | None, org_wide: bool
    ) -> Bot | None:
        try:
            return await self._store.async_find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
            )
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseUnavailable(type(exc).__name__) from None

    async def _usable(self, bot: Bot | None) -> WorkspaceBot | None:
        if bot is None or bot.bot_token is None:
            return None
        if bot.bot_refresh_token is not None:
            bot = await self._refreshed(bot)
            if bot is None:
                return None
        return WorkspaceBot(
            token=bot.bot_token,  # type: ignore[arg-type]
            team_id=bot.team_id,
            enterprise_id=bot.enterprise_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
        )

    async def _refreshed(self, bot: Bot) -> Bot | None:
        """The bot with a token good for a while yet; None if Slack refused to refresh it.
        Refresh tokens are single-use: one refresh per workspace at a time across every
        process (a lock row), each re-reading the bot after taking the lock."""
        key = (bot.enterprise_id, bot.team_id)
        scope = str(bot.team_id or bot.enterprise_id)
        async with self._rotating.setdefault(key, asyncio.Lock()):
            try:
                async with application_lock(
                    self._db, team_id=scope, application_id=REFRESH_LOCK, wait=REFRESH_LOCK_WAIT
                ):
                    return await self._refresh_locked(key, bot)
            except LockBusy:
                # Another process is refreshing it; the token is good until it expires.
                logger.info("Bot token refresh under way elsewhere (team=%s)", scope)
                return self._unsaved.get(key) or bot

    async def _refresh_locked(self, key: tuple[str | None, str | None], bot: Bot) -> Bot | None:
        if key in self._unsaved:  # refreshed before, its save failed: the only live pair
            bot = self._unsaved[key]
            await self._save(key, bot)
        else:
            bot = (
                await self._find(
                    enterprise_id=bot.enterprise_id,
                    team_id=bot.team_id,
                    org_wide=bot.is_enterprise_install,
                )
                or bot
            )
        try:
            refreshed = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY
            )
        except SlackTokenRotationError as exc:
            logger.error(
                "Slack refused to refresh the bot token (team=%s enterprise=%s): %s",
                bot.team_id,
                bot.enterprise_id,
                slack_error(exc.api_error),
            )
            return None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning(
                "Could not refresh the bot token (team=%s enterprise=%s): %s",
                bot.team_id,
                bot.enterprise_id,
                type(exc).__name__,
            )
            return None
        if refreshed is None:
            return bot
        self._unsaved[key] = refreshed  # kept until saved: Slack has retired the old pair
        await self._save(key, refreshed)
        logger.info("Refreshed the bot token (team=%s)", bot.team_id or bot.enterprise_id)
        return refreshed

    async def _save(self, key: tuple[str | None, str | None], bot: Bot) -> None:
        """Save a refreshed pair; when the database fails, keep it in memory (and use it) and
        try again at the next refresh."""
        try:
            await self._store.async_save_bot(bot)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning(
                "A refreshed bot token could not be saved yet (team=%s): %s",
                bot.team_id or bot.enterprise_id,
                type(exc).__name__,
            )
            return
        self._unsaved.pop(key, None)

    async def _remember_enterprise(self, team_id: str, enterprise_id: str) -> None:
        if team_id in self._enterprises_recorded:
            return
        await record_enterprise(self._db, team_id=team_id, enterprise_id=enterprise_id)
        self._enterprises_recorded.add(team_id)


def _org_wide_of(store: EncryptedInstallationStore, team_id: str) -> ColumnElement[bool]:
    """The org-wide installation of the org `team_id` is recorded in."""
    bots = store.bots
    enterprise = select(Workspace.enterprise_id).where(Workspace.team_id == team_id)
    return and_(
        bots.c.is_enterprise_install.is_(True),
        bots.c.enterprise_id.in_(enterprise.scalar_subquery()),
    )


def _retrieve(task: asyncio.Future[WorkspaceBot | None]) -> None:
    if not task.cancelled():
        task.exception()


class TokenAuthorize(AsyncAuthorize):
    """Bolt's `authorize`, from `SlackTokens`: no `auth.test` per request (Bolt's installation
    authorize makes one), since the installation already says who the bot is."""

    def __init__(self, tokens: SlackTokens) -> None:
        self._tokens = tokens

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **_: object,
    ) -> AuthorizeResult | None:
        lookup = asyncio.ensure_future(
            self._tokens.for_request(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=bool(context.is_enterprise_install),
            )
        )
        try:
            # Shielded: a token refresh under way finishes (and is saved) even if this request
            # stops waiting for it.
            bot = await asyncio.wait_for(asyncio.shield(lookup), AUTHORIZE_BUDGET)
        except (DatabaseUnavailable, TimeoutError) as exc:
            lookup.add_done_callback(_retrieve)
            logger.warning(
                "Could not read the installation (team=%s enterprise=%s): %s",
                team_id,
                enterprise_id,
                exc if isinstance(exc, DatabaseUnavailable) else "no answer in time",
            )
            return None
        if bot is None:
            logger.warning(
                "No bot token for team=%s enterprise=%s (not installed, or Slack not reachable)",
                team_id,
                enterprise_id,
            )
            return None
        return bot.authorize_result(team_id)


@dataclass
class SlackAccess:
    """How this process reaches each workspace's Slack: its tokens, the OAuth store in OAuth
    mode, and in single-workspace mode the identity learned in the background."""

    runtime: Runtime
    tokens: SlackTokens
    identity: BotIdentity | None = None
    store: EncryptedInstallationStore | None = None

    @classmethod
    def open(cls, runtime: Runtime, *, retry_seconds: float) -> SlackAccess:
        settings = runtime.settings
        if settings.oauth_enabled:
            store = installation_store(str(settings.slack_client_id), runtime.db.engine)
            secret = settings.slack_client_secret
            tokens = InstalledTokens(
                store,
                runtime.db,
                client_id=str(settings.slack_client_id),
                client_secret=secret.get_secret_value() if secret else "",
                client=runtime.web_client(None),
            )
            return cls(runtime, tokens, store=store)
        identity = BotIdentity(
            runtime.web_client(None), runtime.bot_token or "", retry_seconds=retry_seconds
        )
        return cls(runtime, SingleWorkspaceTokens(identity), identity=identity)

    async def keep_learning(self) -> None:
        """Single-workspace mode: learn who the bot is, retrying in the background."""
        if self.identity is not None:
            await self.identity.keep_trying()

    async def client_for(self, team_id: str) -> AsyncWebClient | None:
        """The workspace's own Slack client for work outside a request (digests, alerts); None
        if it has no usable installation (logged)."""
        try:
            bot = await self.tokens.for_team(team_id)
        except DatabaseUnavailable as exc:
            logger.warning("Could not read the installation of team=%s: %s", team_id, exc)
            return None
        if bot is None:
            logger.warning(
                "No bot token for team=%s: not installed, or Slack not reachable", team_id
            )
            return None
        return self.runtime.web_client(bot.token)
