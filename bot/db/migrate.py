"""Run Alembic migrations programmatically (`quota-bot migrate`, and `serve` on SQLite)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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
    script = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(False)))
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_heads()
        )
    return set(current) == set(script.get_heads())
