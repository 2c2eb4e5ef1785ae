"""The async engine and session factory, and the mapping from user URLs to async drivers."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ..config import Settings
from .crypto import (
    EncryptionKeyError,
    key_file_for,
    load_or_create_key_file,
    set_encryption_keys,
)

CONNECT_TIMEOUT = 5


def async_database_url(url: str) -> str:
    """`sqlite:///…` → aiosqlite, `postgres(ql)://…` → psycopg (async), whatever driver was named:
    these are the drivers the bot ships with."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_engine(database_url: str) -> AsyncEngine:
    url = async_database_url(database_url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"connect_timeout": CONNECT_TIMEOUT},
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


def configure_encryption(settings: Settings) -> None:
    """Load `ENCRYPTION_KEY`, or for file-backed SQLite generate a key file beside the database."""
    if settings.encryption_key is not None:
        set_encryption_keys(settings.encryption_key.get_secret_value())
        return
    path = settings.sqlite_path
    if path is None:
        raise EncryptionKeyError(
            "ENCRYPTION_KEY is required for this DATABASE_URL (a key file is generated only "
            "for a file-backed SQLite database)"
        )
    set_encryption_keys(load_or_create_key_file(key_file_for(path)))


async def database_is_reachable(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
