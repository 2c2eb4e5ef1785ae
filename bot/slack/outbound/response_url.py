"""Answering an interaction through its `response_url`, on the process's shared session.

Unlike Bolt's `respond()`, a failure is never silent: a 5xx or a dropped connection is retried
once, and what still fails comes back as a reason the caller logs with its context.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook.async_client import AsyncWebhookClient

if TYPE_CHECKING:
    from ...runtime import Runtime

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


class AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Retries every 5xx (slack_sdk's own handler retries only 500 and 503)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


class ResponseUrl:
    def __init__(self, url: str | None, session: aiohttp.ClientSession, *, backoff: float):
        self.url = url
        self._session = session
        self._backoff = backoff

    @classmethod
    def of(cls, runtime: Runtime, url: str | None) -> ResponseUrl:
        """The response_url `url`, answered through `runtime`'s shared session."""
        return cls(url, runtime.slack_http, backoff=runtime.settings.retry_backoff_seconds)

    def _retry_handlers(self) -> list[AsyncRetryHandler]:
        wait = FixedValueRetryIntervalCalculator(self._backoff)
        return [
            AnyServerErrorRetryHandler(max_retry_count=1, interval_calculator=wait),
            AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=wait),
        ]

    async def send(self, message: dict[str, Any]) -> str | None:
        """Post `message`; None when Slack took it, else why not (an HTTP status or error)."""
        if not self.url:
            return "no response_url"
        client = AsyncWebhookClient(
            self.url,
            timeout=TIMEOUT_SECONDS,
            session=self._session,
            retry_handlers=self._retry_handlers(),
        )
        try:
            response = await client.send_dict(message)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        return None
