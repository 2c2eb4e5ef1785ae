"""Small factories the tests share: times, settings and the like."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from bot.config import Settings


def as_utc(value: Any) -> datetime:
    """A stored time (a datetime, naive or not, or SQLite's ISO text) in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def with_keys(settings: Settings, keys: str, **more: object) -> Settings:
    """`settings` with ENCRYPTION_KEY set to `keys` (one key, or several comma-separated)."""
    return settings.model_copy(update={"encryption_key": SecretStr(keys), **more})
