"""`quota-bot rotate-key`'s work: every stored secret re-encrypted under the newest key, and a
run that was interrupted finished by running it again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.config import Settings
from bot.db.database import Database, DatabaseUnavailable
from bot.db.installations import installation_store
from bot.runtime import Runtime
from bot.services.secrets import rotate_secrets
from bot.services.workspaces import count_unreadable_secrets, platform_token, save_token
from tests.support.factories import with_keys

T = TypeVar("T")
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


class StopsAfter(Database):
    """The real database, which stops answering after `units` units of work (an interrupted
    run)."""

    def __init__(self, db: Database, units: int) -> None:
        super().__init__(db.engine, timeout=db.timeout)
        self.units = units

    async def run(self, work: Callable[[Any], Awaitable[T]], **options: Any) -> T:
        if self.units <= 0:
            raise DatabaseUnavailable("OperationalError: the run was interrupted")
        self.units -= 1
        return await super().run(work, **options)


async def store_under_old_key(settings: Settings, teams: int) -> None:
    runtime = await Runtime.open(with_keys(settings, OLD))
    try:
        store = installation_store("1234.5678", runtime.db.engine)
        for number in range(teams):
            team = f"T{number:04d}"
            await save_token(
                runtime.db, team_id=team, token=f"platform-v1-{number}", account="a", user_id="U"
            )
            await store.async_save(
                Installation(
                    app_id="A0001",
                    enterprise_id=None,
                    team_id=team,
                    user_id="U0001",
                    bot_token=f"xoxb-{number}",
                    bot_id="B0001",
                    bot_user_id="UB0001",
                )
            )
    finally:
        await runtime.close()


async def unreadable_under_the_new_key_alone(settings: Settings) -> dict[str, int]:
    runtime = await Runtime.open(with_keys(settings, NEW))
    try:
        return await count_unreadable_secrets(runtime.db)
    finally:
        await runtime.close()


async def test_every_secret_is_readable_with_the_new_key_alone_after_rotation(
    settings: Settings,
) -> None:
    await store_under_old_key(settings, teams=3)
    both = with_keys(settings, f"{NEW},{OLD}")
    runtime = await Runtime.open(both)
    try:
        done = await rotate_secrets(runtime.db, both.keyring())
    finally:
        await runtime.close()

    assert (done.rotated, done.current, done.unreadable) == (9, 0, {})
    assert await unreadable_under_the_new_key_alone(settings) == {}
    runtime = await Runtime.open(with_keys(settings, NEW))
    try:
        assert await platform_token(runtime.db, "T0002", None) == "platform-v1-2"
    finally:
        await runtime.close()


async def test_an_interrupted_rotation_is_finished_by_running_it_again(
    settings: Settings,
) -> None:
    await store_under_old_key(settings, teams=5)
    both = with_keys(settings, f"{NEW},{OLD}")
    runtime = await Runtime.open(both)
    try:
        with pytest.raises(DatabaseUnavailable):
            await rotate_secrets(StopsAfter(runtime.db, units=2), both.keyring(), batch=2)
        assert await unreadable_under_the_new_key_alone(settings) != {}

        done = await rotate_secrets(runtime.db, both.keyring(), batch=2)
    finally:
        await runtime.close()

    assert done.current == 4  # the first run's two batches of two
    assert done.rotated == 15 - 4
    assert await unreadable_under_the_new_key_alone(settings) == {}
