"""A PostgreSQL database that freezes after the bot has connected, through a proxy that stops
forwarding, and comes back. Collected only when the suite runs on PostgreSQL (TEST_DATABASE_URL);
SQLite's counterpart, a held write lock, is in test_outages.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.slack.blocks import NOT_INSTALLED
from tests.support.client import (
    ADMIN,
    APP_ID,
    MEMBER,
    OTHER_APP_ID,
    FakeApplication,
    mock_quota,
    set_platform_token,
)
from tests.support.oauth import CLIENT_ID, CLIENT_SECRET, install, workspace_a
from tests.support.outages import (
    assert_no_database_sentence,
    assert_no_traceback,
    command,
    health,
    press_toggle,
    signed_post,
)
from tests.support.server import serve
from tests.support.slack_server import SlackServer


class FreezableProxy:
    """TCP on 127.0.0.1 to the test PostgreSQL. `freeze()` stops every byte both ways;
    `lose_reply_to_commit_after(marker)` lets the first COMMIT that follows a statement holding
    `marker` reach the server, then withholds every answer (the server commits; the bot never
    hears so)."""

    def __init__(self, upstream: str | tuple[str, int]) -> None:
        self.upstream = upstream
        self.to_server = asyncio.Event()
        self.to_client = asyncio.Event()
        self.thaw()
        self.trap: bytes | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.pumps: set[asyncio.Task[None]] = set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        self.to_server.clear()
        self.to_client.clear()

    def thaw(self) -> None:
        self.trap = None
        self.to_server.set()
        self.to_client.set()

    def lose_reply_to_commit_after(self, marker: bytes) -> None:
        self.trap = marker

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await self.to_server.wait()
        if isinstance(self.upstream, str):
            up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers.append(up_writer)
        pumps = (
            self._pump(reader, up_writer, self.to_server, watch=True),
            self._pump(up_reader, writer, self.to_client, watch=False),
        )
        for coroutine in pumps:
            pump = asyncio.create_task(coroutine)
            self.pumps.add(pump)
            pump.add_done_callback(self.pumps.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        open_: asyncio.Event,
        *,
        watch: bool,
    ) -> None:
        armed = False
        try:
            while data := await source.read(65536):
                await open_.wait()
                sink.write(data)
                if watch and self.trap is not None:
                    armed = armed or self.trap in data
                    if armed and b"COMMIT" in data:
                        self.to_client.clear()  # before the server's answer can be read
                        self.trap = None
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for pump in list(self.pumps):
            pump.cancel()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.pumps, return_exceptions=True)


def postgres_address(url: str) -> str | tuple[str, int]:
    """Where the test PostgreSQL listens: its Unix socket (`?host=/dir`), or host and port."""
    parsed = make_url(url)
    host = parsed.query.get("host")
    if isinstance(host, str) and host.startswith("/"):
        return f"{host}/.s.PGSQL.{parsed.port or 5432}"
    return parsed.host or "localhost", parsed.port or 5432


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[tuple[Settings, FreezableProxy]]:
    """Settings whose database is the test PostgreSQL behind a FreezableProxy."""
    url = make_url(settings.database_url)
    proxy = FreezableProxy(postgres_address(settings.database_url))
    await proxy.start()
    try:
        yield (
            settings.model_copy(
                update={
                    "database_url": url.set(
                        host="127.0.0.1", port=proxy.port, query={}
                    ).render_as_string(hide_password=False),
                    "database_timeout": 0.5,
                    "retry_backoff_seconds": 0.0,
                }
            ),
            proxy,
        )
    finally:
        proxy.thaw()
        await proxy.stop()


async def test_database_that_freezes_and_comes_back(
    proxied: tuple[Settings, FreezableProxy],
    slack: SlackServer,
    acedata: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings, proxy = proxied
    async with serve(settings, slack) as bot:
        await set_platform_token(bot, acedata)
        fake = FakeApplication(acedata)
        await bot.quota(f"link prod {APP_ID}", user=ADMIN)
        assert await health(bot) == (200, "ok")

        proxy.freeze()
        status, lookup = await command(bot, "prod", user=MEMBER)
        assert status == 200
        assert_no_database_sentence(lookup)
        status, ack, toggle = await press_toggle(bot, user=ADMIN)
        assert (status, ack) == (200, "")
        assert_no_database_sentence(toggle)
        assert await health(bot) == (503, "database unavailable")
        assert "POST" not in fake.log

        proxy.thaw()
        assert await health(bot) == (200, "ok")
        status, card = await command(bot, "prod", user=MEMBER)
        assert status == 200
        assert card.response_type == "in_channel"
        status, ack, toggle = await press_toggle(bot, user=ADMIN)
        assert (status, ack) == (200, "")
        assert toggle["response_type"] == "in_channel"
        assert fake.allow is True
        assert fake.log.count("POST") == 1
    assert_no_traceback(caplog)


async def test_link_whose_commit_went_unanswered_does_not_claim_nothing_changed(
    proxied: tuple[Settings, FreezableProxy],
    slack: SlackServer,
    acedata: respx.MockRouter,
    db: Engine,
) -> None:
    """The database commits the link, then freezes before saying so. Whatever the bot answers,
    it must not tell the admin that nothing was changed."""
    settings, proxy = proxied
    async with serve(settings, slack) as bot:
        await set_platform_token(bot, acedata)
        mock_quota(acedata, OTHER_APP_ID, title="Suno")

        proxy.lose_reply_to_commit_after(b"INSERT INTO aliases")
        status, reply = await command(bot, f"link other {OTHER_APP_ID}", user=ADMIN)
        with db.connect() as connection:
            stored = connection.execute(text("SELECT name, application_id FROM aliases")).all()
        proxy.thaw()

    assert status == 200
    assert [tuple(row) for row in stored] == [("other", OTHER_APP_ID)]
    assert "nothing was changed" not in reply.text, reply.text
    assert "may or may not have been saved" in reply.text


async def test_in_oauth_mode_a_frozen_database_still_gets_slack_its_ack(
    proxied: tuple[Settings, FreezableProxy], slack: SlackServer, acedata: respx.MockRouter
) -> None:
    """The installation is looked up before anything else; a frozen database bounds that."""
    settings, proxy = proxied
    settings = settings.model_copy(
        update={"slack_bot_token": None, "slack_client_id": CLIENT_ID}
        | {"slack_client_secret": SecretStr(CLIENT_SECRET)}
    )
    async with serve(settings, slack) as bot:
        workspace = workspace_a()
        await install(bot, slack, workspace, "code-a")
        fields = bot.as_team(workspace.team_id).command_fields("help", user=MEMBER)

        proxy.freeze()
        answer = await signed_post(bot, fields, within=2.5)
        told = await slack.wait_for_response(fields["response_url"].rsplit("/", 1)[1])
        proxy.thaw()

    assert answer == (200, "")
    assert told["text"] == NOT_INSTALLED
