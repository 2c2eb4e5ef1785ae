"""Socket Mode for development: the same app over a WebSocket, no public URL needed.

Before handing over to slack_sdk's client, the app-level token is tried once per attempt:
a rejected token stops the process with one line, and an unreachable Slack gets one line per
attempt with a growing wait, instead of a traceback every few seconds forever.

SIGTERM or SIGINT closes the WebSocket and returns, so the caller lets the work already
acknowledged finish (a card still reaches its response_url) before the process exits; a
second signal stops it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from ... import logs
from ..api_errors import slack_error
from .middleware import count_answer

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRY_SECONDS = 300.0
# Slack's answers that no retry can fix.
_FATAL = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "not_allowed_token_type",
}


class SocketModeRefused(Exception):
    """Slack refused the app-level token; the message says what to fix."""


async def wait_until_slack_accepts(
    app: AsyncApp, app_token: str, *, retry_seconds: float
) -> str | None:
    """The WebSocket URL, once `apps.connections.open` succeeds; SocketModeRefused if it
    never can."""
    # One request per attempt: the app's own client would retry connection errors itself.
    client = AsyncWebClient(
        base_url=app.client.base_url, session=app.client.session, retry_handlers=[]
    )
    delay = retry_seconds
    attempt = 1
    while True:
        try:
            response = await client.apps_connections_open(app_token=app_token)
            url = response.get("url")
            return url if isinstance(url, str) and url else None
        except SlackApiError as exc:
            error = slack_error(exc)
            if error in _FATAL:
                raise SocketModeRefused(
                    f"Slack refused SLACK_APP_TOKEN ({error}): create an app-level token with "
                    "connections:write under Basic Information → App-Level Tokens"
                ) from None
            problem = f"Slack said {error}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"cannot reach Slack at {client.base_url} ({type(exc).__name__})"
        logger.warning(
            "Socket Mode attempt %d failed: %s; retrying in %.3g s", attempt, problem, delay
        )
        await asyncio.sleep(delay)
        delay = min(max(delay * 2, 1.0), MAX_RETRY_SECONDS)
        attempt += 1


class _OneLine(logging.Filter):
    """slack_sdk logs every failed reconnect with a full traceback; keep one line with the
    error instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {str(error)[:200]})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class _CountedHandler(AsyncSocketModeHandler):
    """Bolt's handler, counting each request by what it was answered (the request context is
    opened by the ingress middleware, in this task)."""

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        logs.forget_request()  # the ingress middleware opens this one's
        answer = await run_async_bolt_app(self.app, req)
        await send_async_response(client, req, answer, start)
        count_answer(logs.current_request(), answer.status)


async def run_socket_mode(app: AsyncApp, app_token: str, *, retry_seconds: float) -> None:
    """Serve `app` over Socket Mode until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        url = await _unless_stopped(
            stop, wait_until_slack_accepts(app, app_token, retry_seconds=retry_seconds)
        )
        if stop.is_set():
            return
        logger.info("Connected to Slack over Socket Mode")
        client_logger = logging.getLogger(f"{__name__}.client")
        if not any(isinstance(f, _OneLine) for f in client_logger.filters):
            client_logger.addFilter(_OneLine())
        handler = _CountedHandler(app, app_token, logger=client_logger)
        # The URL Slack just issued: asking again would spend another call of a Tier 1 method.
        handler.client.wss_uri = url
        try:
            await _unless_stopped(stop, handler.connect_async())
            await stop.wait()
            logger.info("Stopping: closing the Socket Mode connection")
        finally:
            await handler.close_async()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM or SIGINT sets `stop`; after that, each has its usual effect again, so a second
    one ends a slow shutdown."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}

    def restore() -> None:
        for number in signals:
            if loop.remove_signal_handler(number) and previous[number] is not None:
                signal.signal(number, previous[number])

    def on_signal() -> None:
        stop.set()
        restore()

    try:
        for number in signals:
            loop.add_signal_handler(number, on_signal)
    except NotImplementedError:  # Windows: SIGINT stays KeyboardInterrupt, as before
        yield
        return
    try:
        yield
    finally:
        restore()


async def _unless_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, T]) -> T | None:
    """`work`'s result, or None (with `work` cancelled) once `stop` is set first."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    return None if task.cancelled() else task.result()
