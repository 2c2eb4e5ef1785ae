"""The database down, frozen or locked: users get one clear sentence, Slack gets its ack in time,
nothing is changed, and reads that need no write keep working."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import respx
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import Settings
from bot.db.database import Database, DatabaseUnavailable
from bot.db.engine import create_engine as create_bot_engine
from bot.db.migrate import upgrade_to_head
from bot.db.models import SeenRequestSignature
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    OTHER_APP_ID,
    FakeApplication,
    mock_quota,
    set_platform_token,
    table_rows,
)
from tests.support.outages import (
    assert_no_database_sentence,
    assert_no_traceback,
    command,
    health,
    press_toggle,
    signed_post,
)
from tests.support.server import ACEDATA_BASE, BOT_TOKEN, SIGNING_SECRET, serve
from tests.support.slack_server import TEAM_ID, SlackServer

UNREACHABLE = "postgresql://nobody:wrong@127.0.0.1:1/none"


# a) The database is not there at all.


@pytest.mark.parametrize(
    "settings_overrides",
    [{"database_url": UNREACHABLE, "database_timeout": 0.3, "retry_backoff_seconds": 0}],
)
async def test_database_down_help_still_answers_and_everything_else_says_so(
    settings: Settings,
    slack: SlackServer,
    acedata: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake = FakeApplication(acedata)
    async with serve(settings, slack) as bot:
        status, help_reply = await command(bot, "help", user=MEMBER)
        assert status == 200
        assert help_reply.via_ack
        assert "/quota link" in help_reply.text
        assert help_reply.body["response_type"] == "ephemeral"

        status, lookup = await command(bot, "prod", user=MEMBER)
        assert status == 200
        assert not lookup.via_ack
        assert_no_database_sentence(lookup)

        status, ack, toggle = await press_toggle(bot, user=ADMIN)
        assert (status, ack) == (200, "")
        assert_no_database_sentence(toggle)
        assert toggle.get("replace_original") is False

        assert await health(bot) == (503, "database unavailable")

    assert fake.log == []
    assert not acedata.calls
    assert not slack.calls_to("chat.postMessage")
    assert not slack.calls_to("chat.update")
    messages = [record.getMessage() for record in caplog.records]
    for user in (MEMBER, ADMIN):
        context = f"team={TEAM_ID} channel={CHANNEL} user={user}"
        assert any(context in m and "DatabaseUnavailable" in m for m in messages), messages
    assert_no_traceback(caplog)


# b) The database accepts connections and never answers.


@asynccontextmanager
async def blackhole() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word; yields its port."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def test_frozen_database_still_acks_in_time_and_says_so(
    settings: Settings,
    slack: SlackServer,
    acedata: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with blackhole() as port:
        frozen = settings.model_copy(
            update={
                "database_url": f"postgresql://u:p@127.0.0.1:{port}/db",
                "database_timeout": 0.3,
                "retry_backoff_seconds": 0.0,
            }
        )
        async with serve(frozen, slack) as bot:
            status, lookup = await command(bot, "prod", user=MEMBER)
            assert status == 200
            assert_no_database_sentence(lookup)

            status, ack, toggle = await press_toggle(bot, user=ADMIN)
            assert (status, ack) == (200, "")
            assert_no_database_sentence(toggle)

            assert await health(bot) == (503, "database unavailable")

    assert not acedata.calls
    assert_no_traceback(caplog)


# c) and d) SQLite's write lock held by another connection: writes refused, reads still work.


def sqlite_settings(path: Path, slack: SlackServer, encryption_key: str) -> Settings:
    """Settings as the `settings` fixture makes them, on a SQLite file of this test's own."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{path}",
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=slack.api_url,
        acedata_base_url=ACEDATA_BASE,
        encryption_key=encryption_key,
        database_timeout=0.3,
        retry_backoff_seconds=0.0,
        fallback_lock_wait=0.1,
    )


@pytest.fixture
def own_sqlite(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "locked.db"
    upgrade_to_head(f"sqlite:///{path}")
    yield path


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as a long write would."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


async def test_sqlite_write_lock_refuses_changes_but_reads_work(
    own_sqlite: Path,
    slack: SlackServer,
    acedata: respx.MockRouter,
    encryption_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = sqlite_settings(own_sqlite, slack, encryption_key)
    stored = create_engine(f"sqlite:///{own_sqlite}")
    try:
        async with serve(settings, slack) as bot:
            await set_platform_token(bot, acedata)
            fake = FakeApplication(acedata)
            other = mock_quota(acedata, OTHER_APP_ID, title="Suno")
            linked = await bot.quota(f"link prod {APP_ID}", user=ADMIN)
            assert linked is not None and "now points to" in linked.text
            assert await health(bot) == (200, "ok")
            before = table_rows(stored)
            fake.log.clear()

            with write_lock(own_sqlite):
                status, link = await command(bot, f"link other {OTHER_APP_ID}", user=ADMIN)
                assert status == 200
                assert_no_database_sentence(link)

                status, ack, toggle = await press_toggle(bot, user=ADMIN)
                assert (status, ack) == (200, "")
                assert_no_database_sentence(toggle)

                status, card = await command(bot, "prod", user=MEMBER)
                assert status == 200
                assert card.response_type == "in_channel"
                assert "493.22 Credits" in card.text

                assert await health(bot) == (503, "database unavailable")
                assert table_rows(stored) == before

            assert await health(bot) == (200, "ok")
            assert table_rows(stored) == before
    finally:
        stored.dispose()

    assert fake.posts == []
    assert "POST" not in fake.log
    assert not other.called
    assert not [c for c in acedata.calls if c.request.method == "POST"]
    assert not slack.calls_to("chat.postMessage")
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("Replay check unavailable") for m in messages), messages
    assert_no_traceback(caplog)


async def test_the_ack_does_not_wait_for_the_replay_check(
    own_sqlite: Path, slack: SlackServer, acedata: respx.MockRouter, encryption_key: str
) -> None:
    """The signature is recorded after the ack: a write lock held longer than Slack's patience
    for an ack delays only the card."""
    settings = sqlite_settings(own_sqlite, slack, encryption_key).model_copy(
        update={"database_timeout": 2.0}
    )
    async with serve(settings, slack) as bot:
        await set_platform_token(bot, acedata)
        mock_quota(acedata)
        await bot.quota(f"link prod {APP_ID}", user=ADMIN)
        fields = bot.command_fields("prod", user=MEMBER)

        with write_lock(own_sqlite):
            assert await signed_post(bot, fields, within=0.5) == (200, "")
        card = await slack.wait_for_response(fields["response_url"].rsplit("/", 1)[1])

    assert card["response_type"] == "in_channel"


async def test_a_write_that_ran_out_of_time_does_not_leave_sqlite_locked(
    own_sqlite: Path,
) -> None:
    """A unit of work abandoned while it waited for SQLite's write lock must not keep the lock
    once it gets it: another connection (another process) can write when it is done (garbage
    collection off, as it may be for minutes in a busy process)."""
    db = Database(create_async_engine_for(own_sqlite, timeout=2.0), timeout=2.0)
    signature = insert_signature(db)

    async def hold(session: AsyncSession) -> None:
        await signature("v0=" + "0" * 64)(session)
        await asyncio.sleep(0.5)  # a writer holding the lock a while

    gc.disable()
    try:
        holder = asyncio.ensure_future(db.run(hold))
        await asyncio.sleep(0.1)
        with pytest.raises(DatabaseUnavailable):
            await db.run(signature("v0=" + "a" * 64), timeout=0.2)
        await holder
        stored = 0
        for _ in range(300):  # the abandoned insert goes through once the holder is done
            with contextlib.closing(sqlite3.connect(own_sqlite)) as reader:
                stored = reader.execute("SELECT count(*) FROM seen_request_signatures").fetchone()[
                    0
                ]
            if stored == 2:
                break
            await asyncio.sleep(0.01)
        with contextlib.closing(
            sqlite3.connect(own_sqlite, isolation_level=None, timeout=0.5)
        ) as other:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the lock was kept
            other.execute("ROLLBACK")
    finally:
        gc.enable()
        await db.dispose()
    assert stored == 2


def create_async_engine_for(path: Path, *, timeout: float) -> AsyncEngine:
    return create_bot_engine(f"sqlite:///{path}", timeout=timeout)


def insert_signature(db: Database) -> Callable[[str], Callable[[AsyncSession], Awaitable[object]]]:
    def unit(value: str) -> Callable[[AsyncSession], Awaitable[object]]:
        statement = (
            db.insert()(SeenRequestSignature)
            .values(signature=value, seen_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["signature"])
            .returning(SeenRequestSignature.signature)
        )

        async def run(session: AsyncSession) -> object:
            return await session.scalar(statement)

        return run

    return unit
