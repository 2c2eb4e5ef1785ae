"""Command line: `quota-bot serve | socket | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from sqlalchemy.exc import SQLAlchemyError

from .config import ConfigError, Settings, load_settings
from .db.crypto import EncryptionKeyError
from .db.engine import create_engine
from .db.migrate import schema_is_current, upgrade_to_head

logger = logging.getLogger("bot")


class StartupError(Exception):
    """A problem that stops start-up, said in one line."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quota-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve Slack's HTTP requests (ASGI, uvicorn)")
    commands.add_parser("socket", help="connect to Slack over Socket Mode (local development)")
    commands.add_parser("migrate", help="upgrade the database schema to the latest version")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
        {"serve": serve, "socket": socket, "migrate": migrate}[args.command](settings)
    except (ConfigError, EncryptionKeyError, StartupError) as exc:
        print(f"quota-bot: {exc}", file=sys.stderr)
        sys.exit(2)


def migrate(settings: Settings) -> None:
    try:
        upgrade_to_head(settings.database_url)
    except SQLAlchemyError as exc:
        raise StartupError(f"cannot migrate the database: {type(exc).__name__}") from None
    logger.info("Database schema is up to date")


def prepare_database(settings: Settings) -> None:
    """SQLite migrates itself so the first run needs nothing; PostgreSQL must be migrated first."""
    if settings.is_sqlite:
        migrate(settings)
        return

    async def check() -> bool:
        engine = create_engine(settings.database_url)
        try:
            return await schema_is_current(engine)
        finally:
            await engine.dispose()

    try:
        current = asyncio.run(check())
    except SQLAlchemyError as exc:
        raise StartupError(
            f"cannot reach the database in DATABASE_URL ({type(exc).__name__})"
        ) from None
    if not current:
        raise StartupError("the database schema is not up to date: run `quota-bot migrate` first")


def serve(settings: Settings) -> None:
    import uvicorn

    from .web import create_web_app

    settings.require("slack_signing_secret", "slack_bot_token")
    app = create_web_app(settings)
    prepare_database(settings)
    uvicorn.run(app, host="0.0.0.0", port=settings.port, proxy_headers=True, log_config=None)


def socket(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from .runtime import Runtime
    from .slack.app import create_app

    settings.require("slack_app_token", "slack_bot_token")
    runtime = Runtime.start(settings)
    prepare_database(settings)

    async def run() -> None:
        try:
            app_token = settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
            app = create_app(runtime, socket_mode=True)
            await AsyncSocketModeHandler(app, app_token).start_async()
        finally:
            await runtime.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
