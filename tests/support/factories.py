"""Small factories the tests share: times and the like."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def as_utc(value: Any) -> datetime:
    """A stored time (a datetime, naive or not, or SQLite's ISO text) in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
