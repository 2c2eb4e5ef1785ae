"""The database's own clock, for times compared across processes and hosts.

Lock and replay bookkeeping compares times written by different processes, perhaps on
different hosts whose clocks disagree; taking every such time from the one database keeps the
comparisons honest.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from .types import UTCDateTime

# SQLAlchemy stores SQLite datetimes as text in this shape; strings of it compare in time order.
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now'{offset})"


class database_now(FunctionElement[Any]):
    """The database's current time."""

    type = UTCDateTime()
    inherit_cache = True


class seconds_ago(FunctionElement[Any]):
    """The database's current time minus a whole number of seconds given at build time."""

    type = UTCDateTime()
    inherit_cache = False

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = int(seconds)


@compiles(database_now, "postgresql")
def _now_postgresql(element: database_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "now()"


@compiles(database_now, "sqlite")
def _now_sqlite(element: database_now, compiler: SQLCompiler, **kw: Any) -> str:
    return _SQLITE_NOW.format(offset="")


@compiles(seconds_ago, "postgresql")
def _ago_postgresql(element: seconds_ago, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(now() - interval '{element.seconds} seconds')"


@compiles(seconds_ago, "sqlite")
def _ago_sqlite(element: seconds_ago, compiler: SQLCompiler, **kw: Any) -> str:
    return _SQLITE_NOW.format(offset=f", '-{element.seconds} seconds'")


class hour_of(FunctionElement[Any]):
    """The hour a time falls in, as a value that groups (not for display)."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)


@compiles(hour_of, "postgresql")
def _hour_postgresql(element: hour_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(hour_of, "sqlite")
def _hour_sqlite(element: hour_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 13)"
