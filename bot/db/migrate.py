"""Run Alembic migrations programmatically (`quota-bot migrate`, and `serve` on SQLite)."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import bot

from .engine import async_database_url


def migrations_path() -> Path:
    """`bot/migrations` in an installed wheel; the top-level `migrations/` in a checkout."""
    package_dir = Path(bot.__file__).parent
    for candidate in (package_dir / "migrations", package_dir.parent / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("Alembic migrations not found next to the bot package")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.attributes["database_url"] = async_database_url(database_url)
    return config


def upgrade_to_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def schema_is_current(engine: AsyncEngine) -> bool:
    return await current_revisions(engine) == head_revisions()


async def current_revisions(engine: AsyncEngine) -> set[str]:
    """The revisions the database's schema is at (none: never migrated); read-only."""
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_heads()
        )
    return set(current)


def head_revisions() -> set[str]:
    """The latest revisions this version's migrations know."""
    return set(_scripts().get_heads())


def known_revisions() -> set[str]:
    """Every revision this version's migrations know (a schema at another was migrated by a
    newer Quota Bot)."""
    return {script.revision for script in _scripts().walk_revisions()}


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    return ScriptDirectory.from_config(config)


_CAUSES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"connection refused", re.I),
        "nothing is listening at {where} (connection refused)",
    ),
    (
        re.compile(
            r"could not translate host name|name or service not known|nodename nor "
            r"servname|name resolution|getaddrinfo",
            re.I,
        ),
        "the host name in it cannot be resolved ({where})",
    ),
    (re.compile(r"timeout expired|timed out", re.I), "{where} did not answer in time"),
    (
        re.compile(
            r"password authentication failed|authentication failed|no password supplied", re.I
        ),
        "the server at {where} refused the user name or password",
    ),
    (
        re.compile(r"database \".*\" does not exist", re.I),
        "the database named in it does not exist",
    ),
    (
        re.compile(r"unable to open database file", re.I),
        "the SQLite file {where} cannot be opened or created (is its directory writable?)",
    ),
    (re.compile(r"readonly database|read-only", re.I), "the SQLite file {where} is read-only"),
    (
        re.compile(r"database is locked", re.I),
        "the SQLite file {where} is locked by another process",
    ),
    (
        re.compile(r"disk i/o error", re.I),
        "the SQLite file {where} cannot be written (disk I/O error)",
    ),
    (re.compile(r"file is not a database", re.I), "{where} is not a SQLite database file"),
]


def explain_database_error(exc: BaseException, database_url: str) -> str:
    """One line naming DATABASE_URL and, in plain words, why it could not be used; never the
    password."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        where = url.database or "(memory)"
    else:
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
    original = getattr(exc, "orig", None) or exc
    text = str(original)
    for pattern, cause in _CAUSES:
        if pattern.search(text):
            return f"DATABASE_URL: {cause.format(where=where)}"
    first_line = (text.strip().splitlines() or [type(original).__name__])[0][:200]
    if url.password:
        first_line = first_line.replace(url.password, "***")
    return (
        f"DATABASE_URL: cannot use the database at {where} "
        f"({type(original).__name__}: {first_line})"
    )
