"""The schema comes only from Alembic: migrations match the models and run both ways."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from bot.db.installations import store_metadata
from bot.db.migrate import alembic_config, upgrade_to_head
from bot.db.models import Base
from tests.support.server import sync_url

TABLES = {
    "workspaces",
    "aliases",
    "bot_admins",
    "audit_events",
    "slack_installations",
    "slack_bots",
}


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the engine under test, dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    admin_url = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS quota_bot_scratch"))
        connection.execute(text("CREATE DATABASE quota_bot_scratch"))
    yield admin_url.set(database="quota_bot_scratch").render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS quota_bot_scratch WITH (FORCE)"))
    admin.dispose()


def test_models_match_the_migrated_schema(db: Engine) -> None:
    """Our models and slack_sdk's stores (their token columns made ciphertext) both."""
    with db.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, [Base.metadata, store_metadata()])
    assert differences == []


def test_migrations_upgrade_downgrade_and_upgrade_again(scratch_url: str) -> None:
    upgrade_to_head(scratch_url)
    engine = create_engine(sync_url(scratch_url))
    assert set(inspect(engine).get_table_names()) >= TABLES

    command.downgrade(alembic_config(scratch_url), "base")
    engine.dispose()
    assert not TABLES & set(inspect(engine).get_table_names())

    upgrade_to_head(scratch_url)
    engine.dispose()
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
