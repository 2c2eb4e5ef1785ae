"""The bot under test: its secrets, and the real ASGI app served on a loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from bot.config import Settings
from bot.web import create_web_app

from .client import BotClient
from .slack_server import SlackServer

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token-4f1c2b"
ACEDATA_BASE = "https://acedata.test"


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (psycopg serves both)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@asynccontextmanager
async def serve(settings: Settings, slack: SlackServer) -> AsyncIterator[BotClient]:
    """The real ASGI app under uvicorn on a loopback port, and a client that signs like Slack."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    app = create_web_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    if not settings.oauth_enabled:
        # The bot asks Slack who it is as it starts; that call is no request's doing.
        await slack.wait_for_call("auth.test")
        slack.calls.clear()
    client = BotClient(f"http://127.0.0.1:{port}", SIGNING_SECRET, slack, settings)
    client.runtime = app.state.runtime
    try:
        yield client
    finally:
        await client.close()
        server.should_exit = True
        await serving
