"""Command line: `quota-bot serve | socket | worker | migrate | console | doctor | rotate-key |
purge-workspace`, and `--version`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import re
import signal
import socket as sockets
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from . import metrics
from .config import CONFIG_HELP, REQUIRED, ConfigError, Settings, configure_logging, load_settings
from .db.crypto import EncryptionKeyError
from .db.engine import create_engine
from .db.migrate import explain_database_error, schema_is_current, upgrade_to_head
from .runtime import SHUTDOWN_GRACE
from .version import version

logger = logging.getLogger("bot")


class StartupError(Exception):
    """A problem that stops start-up, said in one line."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quota-bot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"quota-bot {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve Slack's HTTP requests (ASGI, uvicorn)")
    commands.add_parser("socket", help="connect to Slack over Socket Mode (local development)")
    commands.add_parser("worker", help="send scheduled digests (any number may run at once)")
    commands.add_parser("migrate", help="upgrade the database schema to the latest version")
    commands.add_parser(
        "rotate-key", help="re-encrypt every stored secret under ENCRYPTION_KEY's newest key"
    )
    purge = commands.add_parser(
        "purge-workspace", help="delete everything held for one workspace (asks for --yes)"
    )
    purge.add_argument("team_id", help="the workspace's Slack team ID, such as T0123ABCD")
    purge.add_argument("--yes", action="store_true", help="delete without asking again")
    commands.add_parser(
        "doctor", help="check a deployment, read-only: one line each, ✓ or ✗ with the fix"
    )
    commands.add_parser(
        "console", help="try the bot at a local prompt: only an Ace Data Cloud token needed"
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .doctor import run_doctor

        sys.exit(run_doctor())
    configure_logging()
    run: dict[str, Callable[[Settings], None]] = {
        "serve": serve,
        "socket": socket_mode,
        "worker": worker,
        "migrate": migrate,
        "rotate-key": rotate_key,
        "purge-workspace": lambda settings: purge_workspace(settings, args.team_id, args.yes),
        "console": console,
    }
    try:
        settings = load_settings(required=REQUIRED[args.command])
        configure_logging(settings.log_format)
        run[args.command](settings)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"quota-bot: {problem}", file=sys.stderr)
        print(f"quota-bot: {CONFIG_HELP}", file=sys.stderr)
        sys.exit(2)
    except (EncryptionKeyError, StartupError) as exc:
        print(f"quota-bot: {exc}", file=sys.stderr)
        sys.exit(2)


def migrate(settings: Settings) -> None:
    make_sqlite_directory(settings)
    try:
        upgrade_to_head(settings.database_url)
    except (SQLAlchemyError, OSError) as exc:
        raise StartupError(
            f"cannot migrate the database — {explain_database_error(exc, settings.database_url)}"
        ) from None
    logger.info("Database schema is up to date")


def rotate_key(settings: Settings) -> None:
    """Re-encrypt every stored secret under the newest key (ENCRYPTION_KEY=new,old); safe to
    run again after an interruption."""
    from .runtime import Runtime
    from .services.secrets import rotate_secrets

    keyring = settings.keyring()
    prepare_database(settings)

    async def run() -> None:
        runtime = await Runtime.open(settings)
        try:
            done = await rotate_secrets(runtime.db, keyring)
        finally:
            await runtime.close()
        print(
            f"Re-encrypted {done.rotated} secret(s) under the newest key; {done.current} "
            "already were."
        )
        for where, count in done.unreadable.items():
            print(f"{count} secret(s) in {where} open with no current key: left as they are.")

    asyncio.run(run())


def purge_workspace(settings: Settings, team_id: str, confirmed: bool) -> None:
    """Delete every row of one workspace (or an org's org-wide installation, by its E… ID);
    without `--yes`, say what would go and stop."""
    from .runtime import Runtime
    from .services import installs

    if not re.fullmatch(r"[TE][A-Z0-9]{1,31}", team_id):
        raise StartupError(
            f"{team_id[:40]!r} is not a Slack team ID (T…) or Enterprise Grid org ID (E…)"
        )
    prepare_database(settings)

    async def run() -> dict[str, int]:
        runtime = await Runtime.open(settings)
        try:
            if confirmed:
                return await installs.purge(runtime.db, team_id=team_id)
            return await installs.held_for(runtime.db, team_id=team_id)
        finally:
            await runtime.close()

    rows = asyncio.run(run())
    listed = ", ".join(f"{table} {count}" for table, count in rows.items() if count) or "nothing"
    if confirmed:
        logger.info("Purged workspace %s: deleted %s", team_id, listed)
        return
    print(f"Workspace {team_id} has: {listed}.")
    if any(rows.values()):
        print(f"Run `quota-bot purge-workspace {team_id} --yes` to delete all of it for good.")
        sys.exit(1)


def console(settings: Settings) -> None:
    """`/quota` at a local prompt, against Ace Data Cloud, with no Slack app (bot.console)."""
    from .console import console_database, run_console

    settings = settings.model_copy(update={"database_url": console_database()})
    for noisy in ("bot", "alembic"):  # the prompt is the console's output; warnings still show
        logging.getLogger(noisy).setLevel(logging.WARNING)
    make_sqlite_directory(settings)
    settings.keyring()
    prepare_database(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_console(settings))


def make_sqlite_directory(settings: Settings) -> None:
    """Create a file-backed SQLite database's directory, as a first run expects."""
    if settings.sqlite_path is None:
        return
    directory = settings.sqlite_path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(
            f"DATABASE_URL: cannot create the directory {directory} ({exc.strerror})"
        ) from None


def prepare_database(settings: Settings) -> None:
    """SQLite migrates itself so the first run needs nothing; PostgreSQL must be migrated first."""
    if settings.is_sqlite:
        migrate(settings)
        return

    async def check() -> bool:
        engine = create_engine(settings.database_url, timeout=settings.database_timeout)
        try:
            return await schema_is_current(engine)
        finally:
            await engine.dispose()

    try:
        current = asyncio.run(check())
    except (SQLAlchemyError, OSError) as exc:
        raise StartupError(
            f"cannot reach the database — {explain_database_error(exc, settings.database_url)}"
        ) from None
    if not current:
        raise StartupError("the database schema is not up to date: run `quota-bot migrate` first")


def bind(host: str, port: int) -> sockets.socket:
    """The listening socket, taken before anything slow so a busy port is said at once."""
    try:
        family, kind, proto, _, address = sockets.getaddrinfo(
            host, port, type=sockets.SOCK_STREAM, flags=sockets.AI_PASSIVE
        )[0]
    except sockets.gaierror:
        raise StartupError(f"HOST {host} is not an address this machine can listen on") from None
    sock = sockets.socket(family, kind, proto)
    sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"PORT {port} is in use on {host}: stop the other process or set PORT to a free "
                "port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"PORT {port} needs privileges; use a port above 1023") from None
        raise StartupError(f"cannot listen on HOST {host} PORT {port}: {exc.strerror}") from None
    return sock


def serve(settings: Settings) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .web import create_web_app

    listener = bind(settings.host, settings.port)
    check_bot_token(settings)
    make_sqlite_directory(settings)
    settings.keyring()  # a bad key, or its file, stops start-up here in one line
    prepare_database(settings)
    processes = settings.web_concurrency
    # No access log: it would write the OAuth redirect's code and state into the logs.
    options: dict[str, Any] = {"proxy_headers": True, "log_config": None, "access_log": False}
    shared = start_metrics(settings, processes=processes)
    logger.info(
        "Serving Slack requests on http://%s:%d/slack/events (%d process%s)",
        settings.host,
        settings.port,
        processes,
        "" if processes == 1 else "es",
    )
    if processes == 1:
        uvicorn.Server(uvicorn.Config(create_web_app(settings), **options)).run(sockets=[listener])
        return
    # Each process builds the app itself from the same environment (WEB_CONCURRENCY).
    config = uvicorn.Config(
        "bot.web:app_from_environment", factory=True, workers=processes, **options
    )
    try:
        Multiprocess(config, sockets=[listener]).run()
    finally:
        metrics.unshare(shared)


def start_metrics(settings: Settings, *, processes: int = 1) -> str | None:
    """The metrics listener on METRICS_PORT, when set. Several processes of one `serve` write
    to a shared directory and this one serves their sum: that directory, made here (None when
    there is none to remove)."""
    if settings.metrics_port is None:
        return None
    registry, made = metrics.share_between_processes() if processes > 1 else (None, None)
    metrics.serve(settings.metrics_host, settings.metrics_port, registry or metrics.REGISTRY)
    return made


def check_bot_token(settings: Settings) -> None:
    """Single-workspace mode: a SLACK_BOT_TOKEN Slack refuses stops start-up in one line. One
    Slack cannot confirm now is left to the running bot, which keeps asking."""
    from .slack.install.identity import refused_token

    if settings.oauth_enabled or settings.slack_bot_token is None:
        return
    token = settings.slack_bot_token.get_secret_value()
    refusal = asyncio.run(refused_token(str(settings.slack_api_url), token))
    if refusal is not None:
        raise StartupError(
            f"SLACK_BOT_TOKEN was refused by Slack ({refusal}): copy the Bot User OAuth Token "
            "(xoxb-…) from the app's OAuth & Permissions page, or reinstall the app"
        )


def socket_mode(settings: Settings) -> None:
    from .runtime import Runtime
    from .slack.app import create_app
    from .slack.ingress.socket_mode import SocketModeRefused, run_socket_mode
    from .slack.install.tokens import SlackAccess

    check_bot_token(settings)
    make_sqlite_directory(settings)
    settings.keyring()
    prepare_database(settings)
    start_metrics(settings)

    async def run() -> None:
        runtime = await Runtime.open(settings)
        access = SlackAccess.open(runtime, retry_seconds=settings.socket_retry_seconds)
        try:
            await runtime.warn_about_unreadable_secrets()
            app_token = settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
            await run_socket_mode(
                create_app(runtime, access),
                app_token,
                retry_seconds=settings.socket_retry_seconds,
            )
        except SocketModeRefused as exc:
            raise StartupError(str(exc)) from None
        finally:
            await runtime.drain(SHUTDOWN_GRACE)
            await runtime.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def worker(settings: Settings) -> None:
    from .runtime import Runtime
    from .slack.install.tokens import SlackAccess
    from .worker import run_scheduler

    check_bot_token(settings)
    make_sqlite_directory(settings)
    settings.keyring()
    prepare_database(settings)
    start_metrics(settings)

    async def run() -> None:
        runtime = await Runtime.open(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        try:
            await runtime.warn_about_unreadable_secrets()
            access = SlackAccess.open(runtime, retry_seconds=settings.retry_backoff_seconds)
            await run_scheduler(runtime, access, stop=stop)
        finally:
            await runtime.drain(SHUTDOWN_GRACE)
            await runtime.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
