"""What one process holds for its lifetime: settings, database, keys, and pooled HTTP clients."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from .acedata import AceDataClient
from .config import Settings
from .db.crypto import Keyring, attach_keyring
from .db.database import Database, DatabaseUnavailable
from .db.engine import create_engine
from .services.workspaces import count_unreadable_tokens

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    acedata: AceDataClient
    # One aiohttp session for every Slack call of the process (Web API and response_url).
    slack_http: aiohttp.ClientSession

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Start the process's resources; must run inside the event loop that will use them."""
        engine = create_engine(settings.database_url, timeout=settings.database_timeout)
        attach_keyring(engine, Keyring.from_settings(settings))
        return cls(
            settings=settings,
            db=Database(engine, timeout=settings.database_timeout),
            acedata=AceDataClient(
                str(settings.acedata_base_url), backoff_base=settings.retry_backoff_seconds
            ),
            slack_http=aiohttp.ClientSession(),
        )

    @property
    def fallback_token(self) -> str | None:
        token = self.settings.acedata_platform_token
        return token.get_secret_value() if token else None

    @property
    def bot_token(self) -> str | None:
        token = self.settings.slack_bot_token
        return token.get_secret_value() if token else None

    def slack_retry_handlers(self) -> list[AsyncRetryHandler]:
        backoff = BackoffRetryIntervalCalculator(backoff_factor=self.settings.retry_backoff_seconds)
        return [
            AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ]

    def web_client(self, token: str | None) -> AsyncWebClient:
        """A Slack Web API client for `token` on the process's shared session."""
        return AsyncWebClient(
            token=token,
            base_url=str(self.settings.slack_api_url),
            session=self.slack_http,
            retry_handlers=self.slack_retry_handlers(),
        )

    async def warn_about_unreadable_secrets(self) -> None:
        """One start-up warning when stored secrets cannot be decrypted with the current keys."""
        try:
            unreadable = await count_unreadable_tokens(self.db)
        except DatabaseUnavailable as exc:
            logger.warning("Could not check the stored secrets at start-up: %s", exc)
            return
        if unreadable:
            logger.warning(
                "%d stored Ace Data Cloud token(s) cannot be decrypted with the current "
                "ENCRYPTION_KEY (was the key changed or its file lost?). Those workspaces read as "
                "having no token until an admin sets it again with /quota token, or the old key "
                "is restored (ENCRYPTION_KEY=new,old).",
                unreadable,
            )

    async def close(self) -> None:
        await self.acedata.aclose()
        await self.slack_http.close()
        await self.db.dispose()
