"""The ASGI app: Slack's request URL, and a health check for the platform's router."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .config import Settings, load_settings
from .db.database import DatabaseUnavailable
from .db.models import utcnow
from .runtime import Runtime
from .services import installs
from .services.replays import purge_old_signatures
from .slack.app import create_app
from .slack.ingress import envelope, http
from .slack.ingress.middleware import ENVELOPE, RECEIVED_AT, busy_answer
from .slack.install.oauth import INSTALL_PATH, REDIRECT_PATH
from .slack.install.tokens import SlackAccess
from .worker import run_scheduler

logger = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0
_OAUTH_PARAMETERS = frozenset({"code", "state", "error", "team"})
_TEAM_ID = re.compile(r"T[A-Z0-9]{1,31}")
SHUTDOWN_GRACE = 10.0


def create_web_app(settings: Settings) -> Starlette:
    secret = settings.slack_signing_secret
    verifier = SignatureVerifier(secret.get_secret_value() if secret else "")

    async def slack_events(request: Request) -> Response:
        received_at = asyncio.get_running_loop().time()
        try:
            body = await http.read_signed_body(request, verifier)
        except http.Refused as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status)
        try:
            parsed = http.parse(body, request.headers.get("content-type", ""))
            shape = envelope.read(parsed)
        except http.Refused as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status)
        except ValueError as exc:
            logger.warning("Refused a malformed Slack request: %s", exc)
            return PlainTextResponse("Malformed request.", status_code=400)
        # Refused before Bolt when busy: the refusal must cost next to nothing.
        runtime: Runtime = request.app.state.runtime
        busy = busy_answer(runtime, shape, parsed)
        if busy is not None:
            return to_starlette_response(busy)
        # Bolt gets the body as JSON, which it parses without guessing.
        headers = {**request.headers, "content-type": "application/json"}
        bolt_request = AsyncBoltRequest(
            body=json.dumps(parsed),
            query=request.query_params,  # type: ignore[arg-type]
            headers=headers,  # type: ignore[arg-type]
        )
        bolt_request.context[ENVELOPE] = shape
        bolt_request.context[RECEIVED_AT] = received_at
        bolt: AsyncApp = request.app.state.bolt
        try:
            answer = await bolt.async_dispatch(bolt_request)
        except Exception as exc:  # Bolt's own routing met a body of a shape it cannot read
            logger.warning(
                "Refused a Slack request Bolt could not route (type=%s): %s",
                str(parsed.get("type"))[:40],
                type(exc).__name__,
            )
            return PlainTextResponse("Malformed request.", status_code=400)
        return to_starlette_response(answer)

    async def oauth(request: Request) -> Response:
        """`/slack/install` and `/slack/oauth_redirect`: Bolt's OAuth flow, in OAuth mode."""
        bolt: AsyncApp = request.app.state.bolt
        flow = bolt.oauth_flow
        if flow is None:
            return PlainTextResponse(
                "Installing through OAuth is not enabled on this deployment (it serves one "
                "workspace; set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to enable it).",
                status_code=404,
            )
        # Only what the flow reads: Bolt copies an install link's `team` into Slack's URL.
        query = {
            name: value
            for name, value in request.query_params.items()
            if name in _OAUTH_PARAMETERS and len(value) <= 512
        }
        if not _TEAM_ID.fullmatch(query.get("team", "T0")):
            del query["team"]
        bolt_request = AsyncBoltRequest(
            body="",
            query=urlencode(query),
            headers=dict(request.headers),  # type: ignore[arg-type]
        )
        try:
            if request.url.path == INSTALL_PATH:
                answer = await flow.handle_installation(bolt_request)
            else:
                answer = await flow.handle_callback(bolt_request)
        except Exception as exc:  # the stores' database, or Slack, failed mid-flow
            logger.warning("OAuth %s failed: %s", request.url.path, type(exc).__name__)
            return PlainTextResponse(
                "Quota Bot could not finish this step (its database or Slack did not answer); "
                "nothing was installed. Start again at /slack/install in a minute.",
                status_code=503,
            )
        return to_starlette_response(answer)

    async def healthz(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        if await runtime.db.is_healthy():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "database unavailable"}, status_code=503)

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

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route(INSTALL_PATH, oauth, methods=["GET"]),
            Route(REDIRECT_PATH, oauth, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """The app as each of WEB_CONCURRENCY's processes builds it (`quota-bot serve` checked the
    settings and migrated the database first)."""
    from .__main__ import REQUIRED, configure_logging

    configure_logging()
    return create_web_app(load_settings(required=REQUIRED["serve"]))


async def _housekeeping(runtime: Runtime) -> None:
    """Off the request path: say once whether stored secrets are unreadable, then forget old
    request signatures and expired install links now and then."""
    await runtime.warn_about_unreadable_secrets()
    while True:
        try:
            await purge_old_signatures(runtime.db)
            if runtime.settings.oauth_enabled:
                await installs.purge_expired_states(runtime.db, now=utcnow())
        except DatabaseUnavailable as exc:
            logger.warning("Could not purge old request signatures or install links: %s", exc)
        await asyncio.sleep(PURGE_INTERVAL)
