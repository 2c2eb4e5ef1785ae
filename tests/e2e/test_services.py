"""Services against the real database, where a race or a process boundary matters."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, event, text

from bot.config import Settings
from bot.db.database import Database
from bot.db.engine import create_engine
from bot.runtime import Runtime
from bot.services import alerts, delivery, installs
from bot.services.alert_levels import Level
from bot.services.errors import TokenUnreadable
from bot.services.locks import application_lock
from bot.services.replays import SignatureLedger
from bot.services.workspaces import platform_token, save_token
from tests.support.client import ADMIN, APP_ID, BotClient
from tests.support.factories import with_keys
from tests.support.slack_server import TEAM_ID


async def test_a_lock_taken_over_is_not_released_by_its_old_holder(
    runtime: Runtime, db: Engine
) -> None:
    first_holds = asyncio.Event()
    second_holds = asyncio.Event()
    first_may_finish = asyncio.Event()

    async def first() -> None:
        async with application_lock(runtime.db, team_id=TEAM_ID, application_id=APP_ID, wait=0):
            first_holds.set()
            await first_may_finish.wait()  # stalls past the stale time: taken over meanwhile

    async def second() -> None:
        await first_holds.wait()
        await asyncio.sleep(0.05)
        async with application_lock(
            runtime.db, team_id=TEAM_ID, application_id=APP_ID, wait=2, stale_after=0
        ):
            second_holds.set()
            await asyncio.sleep(0.2)
            first_may_finish.set()
            await asyncio.sleep(0.2)  # the first holder releases while the second still holds
            with db.connect() as connection:
                holders = connection.execute(text("SELECT count(*) FROM fallback_locks")).scalar()
            assert holders == 1

    await asyncio.wait_for(asyncio.gather(first(), second()), 10)
    assert second_holds.is_set()
    with db.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM fallback_locks")).scalar() == 0


async def test_two_runtimes_in_one_process_keep_their_own_keys(settings: Settings) -> None:
    first_key, second_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = await Runtime.open(with_keys(settings, first_key))
    second = await Runtime.open(with_keys(settings, second_key))
    try:
        await save_token(first.db, team_id="T1", token="platform-v1-one", account="a", user_id="U")
        await save_token(second.db, team_id="T2", token="platform-v1-two", account="b", user_id="U")

        assert await platform_token(first.db, "T1", None) == "platform-v1-one"
        assert await platform_token(second.db, "T2", None) == "platform-v1-two"
        with pytest.raises(TokenUnreadable):
            await platform_token(first.db, "T2", None)
    finally:
        await first.close()
        await second.close()


async def test_work_finishing_after_an_uninstall_never_lifts_its_pause(
    linked: BotClient, db: Engine
) -> None:
    """An alert check or a digest claimed before the uninstall ends after it: the pause stays,
    and a dead token's error reads as the uninstall (so a re-install resumes it)."""
    runtime = linked.runtime
    assert runtime is not None
    await linked.quota("alert prod below 10", user=ADMIN)
    later = datetime.now(UTC) + timedelta(hours=1)
    (watch,) = await alerts.claim_due(runtime.db, now=later, every=timedelta(minutes=5))

    await installs.uninstalled(
        runtime.db, team_id=TEAM_ID, enterprise_id=None, org_wide=False, reason="app_uninstalled"
    )
    told = replace(watch.state, said=Level.LOW, last_remaining=Decimal("5"))
    await alerts.save_state(runtime.db, watch, told)
    await alerts.save_state(runtime.db, watch, told, paused_reason="channel_not_found")

    with db.connect() as connection:
        paused = connection.execute(text("SELECT paused_reason FROM quota_alerts")).all()
    assert paused == [("uninstalled",)]
    assert delivery.pause_reason("token_revoked") == "uninstalled"
    assert delivery.pause_reason("invalid_auth") == "uninstalled"
    assert delivery.pause_reason("channel_not_found") == "channel_not_found"
    assert delivery.pause_reason("ratelimited") is None


async def test_signatures_arriving_together_are_recorded_in_one_insert(runtime: Runtime) -> None:
    inserts: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO seen_request_signatures"):
            inserts.append(statement)

    ledger = SignatureLedger(runtime.db)
    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        together = await asyncio.gather(
            *(ledger.first_time_seen(f"v0={n:064x}", timeout=5) for n in (1, 2, 1, 3))
        )
        again = await ledger.first_time_seen(f"v0={2:064x}", timeout=5)
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", count)

    assert together == [True, True, False, True]  # the second "1" is a replay of the first
    assert again is False
    assert len(inserts) == 2  # one for the four at once, one for the latecomer


async def test_a_signature_arriving_while_a_batch_is_written_is_not_left_waiting(
    runtime: Runtime,
) -> None:
    ledger = SignatureLedger(runtime.db)
    first = asyncio.ensure_future(ledger.first_time_seen(f"v0={1:064x}", timeout=5))
    written = asyncio.Event()

    def hold(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO seen_request_signatures"):
            written.set()

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", hold)
    try:
        await asyncio.wait_for(written.wait(), 5)  # the first batch is being written
        late = await asyncio.wait_for(ledger.first_time_seen(f"v0={2:064x}", timeout=5), 5)
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", hold)

    assert await first is True
    assert late is True


async def test_a_batch_the_database_cannot_take_tells_every_request(tmp_path: Path) -> None:
    gone = Database(create_engine(f"sqlite:///{tmp_path}/missing/dir/quota.db"), timeout=0.5)
    ledger = SignatureLedger(gone)
    try:
        verdicts = await asyncio.gather(
            *(ledger.first_time_seen(f"v0={n:064x}", timeout=0.5) for n in range(3)),
            return_exceptions=True,
        )
    finally:
        await gone.dispose()
    assert [type(verdict).__name__ for verdict in verdicts] == ["DatabaseUnavailable"] * 3
