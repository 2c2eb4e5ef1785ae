"""A changed ENCRYPTION_KEY: every unreadable secret counted by its kind."""

from __future__ import annotations

from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.config import Settings
from bot.db.installations import installation_store
from bot.runtime import Runtime
from bot.services.workspaces import count_unreadable_secrets, save_token
from tests.support.factories import with_keys


async def store_secrets(runtime: Runtime) -> None:
    store = installation_store("1234.5678", runtime.db.engine)
    await store.async_save(
        Installation(
            app_id="A0001",
            enterprise_id=None,
            team_id="T0009",
            user_id="U0009",
            bot_token="xoxb-team-nine",
            bot_id="B0009",
            bot_user_id="UB0009",
            bot_refresh_token="xoxe-1-refresh",
            bot_token_expires_in=43200,
        )
    )
    await save_token(
        runtime.db, team_id="T0009", token="platform-v1-nine", account="a", user_id="U0009"
    )


async def test_unreadable_secrets_are_counted_by_kind(settings: Settings) -> None:
    first = await Runtime.open(with_keys(settings, Fernet.generate_key().decode()))
    try:
        await store_secrets(first)
        assert await count_unreadable_secrets(first.db) == {}
    finally:
        await first.close()

    second = await Runtime.open(with_keys(settings, Fernet.generate_key().decode()))
    try:
        assert await count_unreadable_secrets(second.db) == {
            "Ace Data Cloud token": 1,
            "Slack bot token": 1,
            "Slack refresh token": 1,
        }
    finally:
        await second.close()
