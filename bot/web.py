"""The ASGI app: Slack's request URL, and a health check for the platform's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import Settings
from .db.engine import database_is_reachable
from .runtime import Runtime
from .slack.app import create_app


def create_web_app(settings: Settings) -> Starlette:
    runtime = Runtime.start(settings)
    slack_handler = AsyncSlackRequestHandler(create_app(runtime))

    async def slack_events(request: Request) -> Response:
        return await slack_handler.handle(request)

    async def healthz(_: Request) -> Response:
        if await database_is_reachable(runtime.engine):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await runtime.close()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
