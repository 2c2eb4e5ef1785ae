"""The async engine, and the mapping from user URLs to the async drivers the bot ships with."""

from __future__ import annotations

import math

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


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


def create_engine(database_url: str, *, timeout: float = 5.0) -> AsyncEngine:
    """An engine whose waits (connecting, a pool slot, SQLite's write lock) end within `timeout`."""
    url = async_database_url(database_url)
    if url.startswith("sqlite"):
        # SQLite gives up on a held write lock a little before the caller's own deadline, so the
        # caller sees SQLite's "database is locked" rather than a cancelled thread.
        busy = timeout * 0.8
        engine = create_async_engine(url, connect_args={"timeout": busy})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy))
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout,
        # libpq counts whole seconds and treats anything under 2 as 2.
        connect_args={"connect_timeout": max(2, math.ceil(timeout))},
    )


def _sqlite_pragmas(busy_seconds: float):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, a commit survives the process crashing; only a power cut may lose the
        # last few, and it spares an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        cursor.close()

    return on_connect
