"""Who the bot is in its workspace (single-workspace mode), learned once from `auth.test`.

Bolt would call `auth.test` before acknowledging the first request, with the Web API client's
30-second timeout and retries: a slow or unreachable Slack would then hold the ack or turn it
into a 500. Here it is asked at start-up in the background, and a request that arrives before
the answer waits for it only briefly.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..api_errors import slack_error

logger = logging.getLogger(__name__)

# How long a request waits for the first answer before the user is told Slack can't be reached.
REQUEST_WAIT = 1.0
ATTEMPT_TIMEOUT = 5
# Slack's answers to auth.test that no retry changes: the token itself is wrong or dead.
DEAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})


async def refused_token(base_url: str, token: str) -> str | None:
    """Slack's reason if it refuses `token` outright (DEAD_TOKEN), else None — accepted, or
    Slack not reachable now (the running bot keeps trying then)."""
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=token,
            base_url=base_url,
            session=session,
            timeout=ATTEMPT_TIMEOUT,
            retry_handlers=[],
        )
        try:
            await client.auth_test()
        except SlackApiError as exc:
            error = slack_error(exc)
            return error if error in DEAD_TOKEN else None
        except (aiohttp.ClientError, TimeoutError):
            return None
    return None


class BotIdentity:
    def __init__(self, client: AsyncWebClient, token: str, *, retry_seconds: float) -> None:
        # One attempt per call, bounded: retries are this class's own, in the background.
        self._client = AsyncWebClient(
            token=token,
            base_url=client.base_url,
            session=client.session,
            timeout=ATTEMPT_TIMEOUT,
            retry_handlers=[],
        )
        self._token = token
        self._retry_seconds = retry_seconds
        self._result: AuthorizeResult | None = None
        self._lock = asyncio.Lock()

    async def learn(self) -> AuthorizeResult | None:
        """Ask `auth.test` once (or reuse the answer); None if Slack did not give one."""
        if self._result is not None:
            return self._result
        async with self._lock:
            if self._result is None:
                try:
                    response = await self._client.auth_test()
                except SlackApiError as exc:
                    logger.warning("auth.test failed: %s", slack_error(exc))
                    return None
                except (aiohttp.ClientError, TimeoutError) as exc:
                    logger.warning("auth.test failed: cannot reach Slack (%s)", type(exc).__name__)
                    return None
                self._result = AuthorizeResult.from_auth_test_response(
                    bot_token=self._token, auth_test_response=response
                )
        return self._result

    async def keep_trying(self) -> None:
        """Learn the identity in the background, with a growing wait between attempts."""
        delay = self._retry_seconds
        while await self.learn() is None:
            await asyncio.sleep(delay)
            delay = min(max(delay * 2, 1.0), 60.0)

    async def authorize(self) -> AuthorizeResult | None:
        """Bolt's `authorize`: the identity, or None (the user is told) if it is not known in
        time."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.learn()), REQUEST_WAIT)
        except TimeoutError:
            return None
