"""What one process holds for its lifetime: settings, database, keys, and pooled HTTP clients."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from . import logs, metrics
from .acedata import AceDataClient
from .config import Settings
from .db.crypto import attach_keyring
from .db.database import Database, DatabaseUnavailable
from .db.engine import create_engine
from .services.replays import SignatureLedger
from .services.rounds import Round
from .services.workspaces import count_unreadable_secrets

logger = logging.getLogger(__name__)

# What a workspace whose secret cannot be read must do.
_REMEDY = {
    "Ace Data Cloud token": "Those workspaces read as having no token until an admin sets it "
    "again with /quota token",
    "Slack bot token": "Those workspaces are told Quota Bot has no installation it can use "
    "until they install the app again",
    "Slack refresh token": "Those workspaces' tokens cannot be refreshed until they install "
    "the app again",
}
# How long digest refreshes share their reads.
SHARED_READS_SECONDS = 30.0
# How long a stopping process waits for work in flight (a card being read) to finish.
SHUTDOWN_GRACE = 10.0
# The longest a Slack call waits on a Retry-After before the caller gets the rate-limit error.
MAX_SLACK_WAIT = 60.0


class RetryAfterHandler(AsyncRateLimitErrorRetryHandler):
    """Slack's 429: wait what its Retry-After asks, then try again (slack_sdk's own handler
    adds up to a second of random wait on top)."""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("rate limited without an answer")
        state.next_attempt_requested = True
        headers = {name.lower(): values for name, values in response.headers.items()}
        raw = (headers.get("retry-after") or ["1"])[0]
        await asyncio.sleep(min(float(raw) if raw.isdigit() else 1.0, MAX_SLACK_WAIT))
        state.increment_current_attempt()


class MeteringHandler(AsyncRetryHandler):
    """Counts each Slack Web API attempt by method and outcome; never retries. First among a
    client's retry handlers, which slack_sdk consults after every attempt (and which Bolt
    copies into the client it makes for each request)."""

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = metrics.slack_method(request.url.rsplit("/", 1)[-1].split("?", 1)[0])
        if error is not None:
            outcome = "timeout" if isinstance(error, TimeoutError) else "connection_error"
        elif response is not None and isinstance(response.body, dict):
            ok = response.body.get("ok")
            outcome = metrics.slack_outcome(None if ok else str(response.body.get("error")))
        else:
            status = response.status_code if response is not None else 0
            outcome = "ok" if status == 200 else metrics.slack_outcome(f"http_{status}")
        metrics.SLACK_CALLS.labels(method, outcome).inc()
        return False


def _slack_timer(api_url: str) -> aiohttp.TraceConfig:
    """Times each Slack request on the shared session: a Web API attempt by method, and a slash
    command's first message accepted at its response_url (any other POST) as card latency,
    from the command's arrival."""
    trace = aiohttp.TraceConfig()

    async def on_request_start(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        context.started = time.monotonic()

    async def on_request_done(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceRequestEndParams | aiohttp.TraceRequestExceptionParams,
    ) -> None:
        url = str(params.url)
        if url.startswith(api_url):
            method = metrics.slack_method(url[len(api_url) :].split("?", 1)[0])
            metrics.SLACK_SECONDS.labels(method).observe(time.monotonic() - context.started)
            return
        request = logs.current_request()
        if request is None or request.kind != "command" or request.answered:
            return
        response = getattr(params, "response", None)  # none when the request failed
        if params.method == "POST" and response is not None and response.status == 200:
            request.answered = True
            elapsed = asyncio.get_running_loop().time() - request.received_at
            metrics.CARD_SECONDS.observe(elapsed)

    trace.on_request_start.append(on_request_start)
    trace.on_request_end.append(on_request_done)
    trace.on_request_exception.append(on_request_done)
    return trace


@dataclass
class Runtime:
    settings: Settings
    db: Database
    acedata: AceDataClient
    # One aiohttp session for every Slack call of the process (Web API and response_url).
    slack_http: aiohttp.ClientSession
    # The signatures of the requests served, recorded in batches (replays are refused).
    replays: SignatureLedger
    # Work that goes on after Slack was acknowledged, waited for before the process closes.
    in_flight: set[asyncio.Task[object]] = field(default_factory=set)
    _shared_round: Round | None = None

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Start the process's resources; must run inside the event loop that will use them."""
        engine = create_engine(settings.database_url, timeout=settings.database_timeout)
        attach_keyring(engine, settings.keyring())
        db = Database(engine, timeout=settings.database_timeout)
        return cls(
            settings=settings,
            db=db,
            replays=SignatureLedger(db),
            acedata=AceDataClient(
                str(settings.acedata_base_url), backoff_base=settings.retry_backoff_seconds
            ),
            slack_http=aiohttp.ClientSession(
                trace_configs=[_slack_timer(str(settings.slack_api_url))]
            ),
        )

    def shared_round(self) -> Round:
        """Reads shared by every digest refresh within SHARED_READS_SECONDS: a digest's buttons
        pressed again and again read each alias once."""
        current = self._shared_round
        if current is None or time.monotonic() - current.started >= SHARED_READS_SECONDS:
            current = self._shared_round = Round(self.acedata, self.db)
        return current

    @property
    def fallback_token(self) -> str | None:
        """ACEDATA_PLATFORM_TOKEN, for workspaces that set none; never in OAuth mode, where any
        workspace can install the app and must not read the operator's account."""
        token = self.settings.acedata_platform_token
        if token is None or self.settings.oauth_enabled:
            return None
        return token.get_secret_value()

    @property
    def bot_token(self) -> str | None:
        token = self.settings.slack_bot_token
        return token.get_secret_value() if token else None

    def slack_retry_handlers(self) -> list[AsyncRetryHandler]:
        backoff = BackoffRetryIntervalCalculator(backoff_factor=self.settings.retry_backoff_seconds)
        return [
            MeteringHandler(),
            AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            RetryAfterHandler(max_retry_count=2),
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
        """One start-up warning when stored secrets cannot be decrypted with the current keys
        (and one when ACEDATA_PLATFORM_TOKEN is set where it is not used)."""
        if self.settings.oauth_enabled and self.settings.acedata_platform_token is not None:
            logger.warning(
                "ACEDATA_PLATFORM_TOKEN is ignored in OAuth mode: any workspace can install the "
                "app, so each sets its own token with /quota token."
            )
        try:
            unreadable = await count_unreadable_secrets(self.db)
        except DatabaseUnavailable as exc:
            logger.warning("Could not check the stored secrets at start-up: %s", exc)
            return
        for kind, count in unreadable.items():
            logger.warning(
                "%d stored %s(s) cannot be decrypted with the current ENCRYPTION_KEY (was the key "
                "changed or its file lost?). %s, or restore the old key (ENCRYPTION_KEY=new,old).",
                count,
                kind,
                _REMEDY[kind],
            )

    @asynccontextmanager
    async def tracked(self) -> AsyncIterator[None]:
        """Mark the current task as work a shutdown should let finish."""
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        metrics.IN_FLIGHT.inc()
        try:
            yield
        finally:
            self.in_flight.discard(task)
            metrics.IN_FLIGHT.dec()

    async def drain(self, timeout: float) -> None:
        """Give work in flight up to `timeout` seconds to finish (a deploy must not cut a fallback
        switch between its change and its audit row)."""
        if self.in_flight:
            logger.info("Waiting for %d request(s) in flight to finish", len(self.in_flight))
            await asyncio.wait(set(self.in_flight), timeout=timeout)

    async def close(self) -> None:
        await self.acedata.aclose()
        await self.slack_http.close()
        await self.db.dispose()
