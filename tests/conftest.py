"""Fixtures: a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL), the bot served by
uvicorn on a local port, a local Slack server, and Ace Data Cloud mocked with respx."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import respx
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, text

from bot.config import Settings
from bot.db.installations import store_metadata
from bot.db.migrate import upgrade_to_head
from bot.db.models import Base
from bot.runtime import Runtime
from tests.support.client import (
    ACEDATA_API,
    ADMIN,
    APP_ID,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    BotClient,
    mock_quota,
    set_platform_token,
)
from tests.support.server import ACEDATA_BASE, BOT_TOKEN, SIGNING_SECRET, serve, sync_url
from tests.support.slack_server import SlackServer

# Tests of how the bot lives with a PostgreSQL server itself run in the PostgreSQL run only.
collect_ignore = [] if os.environ.get("TEST_DATABASE_URL") else ["e2e/test_outages_postgres.py"]


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per session: PostgreSQL from a clean schema, SQLite into a template file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        engine = create_engine(sync_url(url))
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade_to_head(url)
        yield url
        return
    template = tmp_path_factory.mktemp("db") / "template.db"
    upgrade_to_head(f"sqlite:///{template}")
    # WAL, as the bot sets on connecting, already in the file: a test's own reads then never
    # meet the exclusive lock of the bot switching a copy's journal mode as it starts.
    with contextlib.closing(sqlite3.connect(template)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    yield str(template)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if "://" in migrated_database:
        engine = create_engine(sync_url(migrated_database))
        every = [*Base.metadata.sorted_tables, *store_metadata().sorted_tables]
        tables = ", ".join(table.name for table in every)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield migrated_database
        return
    path = tmp_path / "quota-bot.db"
    shutil.copyfile(migrated_database, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def encryption_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def slack() -> AsyncIterator[SlackServer]:
    server = SlackServer(
        users={
            ADMIN: {"name": "alice", "is_admin": True},
            MEMBER: {"name": "bob"},
            LISTED_ADMIN: {"name": "carol"},
        }
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def acedata() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=ACEDATA_API, assert_all_called=False) as router:
        yield router


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Extra settings for one test; override with `@pytest.mark.parametrize`."""
    return {}


@pytest.fixture
def settings(
    database_url: str,
    slack: SlackServer,
    encryption_key: str,
    settings_overrides: dict[str, object],
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_bot_token": BOT_TOKEN,
        "slack_api_url": slack.api_url,
        "acedata_base_url": ACEDATA_BASE,
        "encryption_key": encryption_key,
        # Waits are settings: no test sleeps through real seconds.
        "retry_backoff_seconds": 0.01,
        "fallback_lock_wait": 0.3,
        # Tests run scheduler rounds themselves, at the moments they choose.
        "scheduler_in_web": "off",
    }
    return Settings(_env_file=None, **(values | settings_overrides))  # type: ignore[call-arg]


@pytest.fixture
async def bot(
    settings: Settings, slack: SlackServer, acedata: respx.MockRouter
) -> AsyncIterator[BotClient]:
    async with serve(settings, slack) as client:
        yield client


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The bot's runtime without its web server, for services tested on their own."""
    runtime = await Runtime.open(settings)
    yield runtime
    await runtime.close()


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database, for asserting what was stored."""
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture
async def linked(bot: BotClient, acedata: respx.MockRouter) -> BotClient:
    """The usual starting point: the workspace's token set, `prod` linked in CHANNEL to APP_ID
    (Midjourney), OTHER_APP_ID readable (Suno), and LISTED_ADMIN a listed bot admin."""
    await set_platform_token(bot, acedata)
    # No usage history upstream unless a test says otherwise (the backfill then finds none).
    for application_id in (APP_ID, OTHER_APP_ID):
        acedata.get(
            "/usage/apis/aggregate/", params__contains={"application_id": application_id}
        ).respond(404, json={"detail": "Not found."})
    mock_quota(acedata, APP_ID, title="Midjourney")
    mock_quota(acedata, OTHER_APP_ID, title="Suno")
    await bot.quota(f"link prod {APP_ID}", user=ADMIN)
    await bot.quota(f"admins add <@{LISTED_ADMIN}|carol>", user=ADMIN)
    return bot
