"""The ASGI app: Slack's request URL, and a health check for the platform's router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import metrics
from .config import REQUIRED, Settings, configure_logging, load_settings
from .db.database import DatabaseUnavailable
from .db.models import utcnow
from .runtime import SHUTDOWN_GRACE, Runtime
from .services import heartbeats, installs
from .services.replays import purge_old_signatures
from .slack.app import create_app
from .slack.ingress import http
from .slack.install.oauth import INSTALL_PATH, REDIRECT_PATH, serve_oauth
from .slack.install.tokens import SlackAccess
from .version import version
from .worker import run_scheduler

logger = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0


def create_web_app(settings: Settings) -> Starlette:
    secret = settings.slack_signing_secret
    app = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route(INSTALL_PATH, oauth, methods=["GET"]),
            Route(REDIRECT_PATH, oauth, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=_lifespan(settings),
    )
    app.state.verifier = SignatureVerifier(secret.get_secret_value() if secret else "")
    return app


async def slack_events(request: Request) -> Response:
    state = request.app.state
    return await http.serve_events(request, state.verifier, state.runtime, state.bolt)


async def oauth(request: Request) -> Response:
    """`/slack/install` and `/slack/oauth_redirect`: Bolt's OAuth flow, in OAuth mode."""
    bolt: AsyncApp = request.app.state.bolt
    response = await serve_oauth(request, bolt.oauth_flow)
    outcome = "acked" if response.status_code < 400 else "refused"
    metrics.REQUESTS.labels("oauth", outcome).inc()
    return response


async def healthz(request: Request) -> Response:
    """200 while the database reads and writes; with the age of the last scheduler round
    (null: none yet), and whether its silence means digests and alerts are not being sent."""
    runtime: Runtime = request.app.state.runtime
    if not await runtime.db.is_healthy():
        return JSONResponse(
            {"status": "database unavailable", "database": "unavailable", "version": version()},
            status_code=503,
        )
    now = utcnow()
    try:
        scheduler = await heartbeats.scheduler_status(
            runtime.db, now=now, poll_seconds=runtime.settings.worker_poll_seconds
        )
    except DatabaseUnavailable:
        return JSONResponse(
            {"status": "database unavailable", "database": "unavailable", "version": version()},
            status_code=503,
        )
    return JSONResponse(
        {
            "status": "ok",
            "version": version(),
            "database": "ok",
            "scheduler": {
                "last_round_seconds_ago": scheduler.seconds_since(now),
                "running": not scheduler.silent,
            },
        }
    )


def _lifespan(settings: Settings) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.open(settings)
        access = SlackAccess.open(runtime, retry_seconds=settings.retry_backoff_seconds)
        app.state.runtime = runtime
        app.state.bolt = create_app(runtime, access)
        stop = asyncio.Event()
        background = [
            asyncio.create_task(access.keep_learning()),
            asyncio.create_task(_housekeeping(runtime)),
        ]
        scheduler = (
            asyncio.create_task(run_scheduler(runtime, access, stop=stop))
            if settings.runs_scheduler_in_web
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if scheduler is not None:  # a round in progress finishes what it claimed
                await asyncio.wait({scheduler}, timeout=SHUTDOWN_GRACE)
                background.append(scheduler)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await runtime.drain(SHUTDOWN_GRACE)
            await runtime.close()

    return lifespan


def app_from_environment() -> Starlette:
    """The app as each of WEB_CONCURRENCY's processes builds it (`quota-bot serve` checked the
    settings and migrated the database first)."""
    configure_logging()
    settings = load_settings(required=REQUIRED["serve"])
    configure_logging(settings.log_format)
    return create_web_app(settings)


async def _housekeeping(runtime: Runtime) -> None:
    """Off the request path: say once whether stored secrets are unreadable, then forget old
    request signatures and expired install links now and then."""
    await runtime.warn_about_unreadable_secrets()
    said_silent = False
    while True:
        try:
            await purge_old_signatures(runtime.db)
            if runtime.settings.oauth_enabled:
                await installs.purge_expired_states(runtime.db, now=utcnow())
            said_silent = await _say_if_no_scheduler(runtime, said_silent)
        except DatabaseUnavailable as exc:
            logger.warning("Could not purge old request signatures or install links: %s", exc)
        await asyncio.sleep(PURGE_INTERVAL)


async def _say_if_no_scheduler(runtime: Runtime, said: bool) -> bool:
    """Log once when no scheduler round has run for a while although digests or alerts are
    set; whether it is being said."""
    status = await heartbeats.scheduler_status(
        runtime.db, now=utcnow(), poll_seconds=runtime.settings.worker_poll_seconds
    )
    if status.silent and not said:
        logger.warning(
            "No scheduler round for %s: digests and alerts are not being sent. Start "
            "`quota-bot worker` (or set SCHEDULER_IN_WEB).",
            "ever" if status.last_round_at is None else f"since {status.last_round_at:%F %T} UTC",
        )
    return status.silent
