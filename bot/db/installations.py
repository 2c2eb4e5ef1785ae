"""slack_sdk's SQLAlchemy installation and OAuth-state stores on our database, with every Slack
token column encrypted by the same keys as our own secrets.

The tables are created by our Alembic migrations (0007), never by the stores' `create_tables()`.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import (
    AsyncSQLAlchemyInstallationStore,
    SQLAlchemyInstallationStore,
)
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Column, Delete, Index, MetaData, Table, delete
from sqlalchemy.ext.asyncio import AsyncEngine

from .crypto import EncryptedString

TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
OAUTH_STATES_TABLE = "slack_oauth_states"
# How long an install link (its state) stays usable.
STATE_EXPIRATION_SECONDS = 600


def _encrypt_tokens(table: Table) -> Table:
    """The library's table, its token columns swapped for ciphertext columns (unbounded text:
    a Fernet token is longer than the library's 200 characters)."""
    for name in TOKEN_COLUMNS:
        if name in table.c:
            table.append_column(Column(name, EncryptedString()), replace_existing=True)
    return table


class EncryptedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """Installations and bots of every workspace that installed the app; tokens encrypted."""

    @classmethod
    def build_installations_table(cls, metadata: MetaData, table_name: str) -> Table:
        return _encrypt_tokens(
            SQLAlchemyInstallationStore.build_installations_table(metadata, table_name)
        )

    @classmethod
    def build_bots_table(cls, metadata: MetaData, table_name: str) -> Table:
        return _encrypt_tokens(SQLAlchemyInstallationStore.build_bots_table(metadata, table_name))

    async def create_tables(self) -> None:
        raise NotImplementedError("The schema comes from Alembic migrations: quota-bot migrate")

    async def async_save(self, installation: Installation) -> None:
        """Save, then forget the workspace's (or org's) older installations: a re-install
        leaves no stale encrypted tokens behind."""
        await super().async_save(installation)
        async with self.engine.begin() as connection:
            for table in (self.installations, self.bots):
                await connection.execute(_older_rows(table, self.client_id, installation))


def _older_rows(table: Table, client_id: str, installation: Installation) -> Delete:
    """Rows of `installation`'s workspace (or, org-wide, its org) installed before it."""
    enterprise_id, team_id = installation.enterprise_id, installation.team_id
    if installation.is_enterprise_install and enterprise_id is not None:
        team_id = None
    installed_at = normalize_datetime_for_db(installation.to_dict()["installed_at"])
    return delete(table).where(
        table.c.client_id == client_id,
        table.c.enterprise_id.is_(None)
        if enterprise_id is None
        else table.c.enterprise_id == enterprise_id,
        table.c.team_id.is_(None) if team_id is None else table.c.team_id == team_id,
        table.c.installed_at < installed_at,
    )


class OAuthStateStore(AsyncSQLAlchemyOAuthStateStore):
    """Install links' states as versions before 0.2 stored them (signed states need no table;
    its rows left from then are purged once expired)."""

    @classmethod
    def build_oauth_states_table(cls, metadata: MetaData, table_name: str) -> Table:
        table = AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, table_name)
        Index(f"ix_{table_name}_state", table.c.state)
        return table

    async def create_tables(self) -> None:
        raise NotImplementedError("The schema comes from Alembic migrations: quota-bot migrate")


def installation_store(client_id: str, engine: AsyncEngine) -> EncryptedInstallationStore:
    return EncryptedInstallationStore(
        client_id=client_id,
        engine=engine,
        bots_table_name=BOTS_TABLE,
        installations_table_name=INSTALLATIONS_TABLE,
    )


def store_metadata() -> MetaData:
    """The three stores' tables as the stores define them (what migration 0007 must match)."""
    metadata = MetaData()
    EncryptedInstallationStore.build_installations_table(metadata, INSTALLATIONS_TABLE)
    EncryptedInstallationStore.build_bots_table(metadata, BOTS_TABLE)
    OAuthStateStore.build_oauth_states_table(metadata, OAUTH_STATES_TABLE)
    return metadata
