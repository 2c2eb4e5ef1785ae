"""`quota-bot socket` as a child process. Start-up: a refused app token stops the process in
one line; an unreachable or briefly failing Slack is retried with a growing wait, one line per
attempt. Then slash commands over a local WebSocket (`tests/support/socket_server.py`):
acknowledged at once and answered at the response_url, malformed envelopes refused without
losing the connection, and SIGTERM or SIGINT letting acknowledged work finish before a clean
exit."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    GLOBAL_APP_ID,
    MEMBER,
    PLATFORM_TOKEN,
    Reply,
    application,
    cli_environment,
)
from tests.support.loopback import serve_on_loopback
from tests.support.server import BOT_TOKEN
from tests.support.slack_server import TEAM_ID, SlackServer
from tests.support.socket_server import SocketModeServer

APP_TOKEN = "xapp-1-A0001-1234567890-0123456789abcdef0123456789abcdef"
UNREACHABLE = "http://127.0.0.1:1/api/"


ATTEMPT_LINE = re.compile(
    r"Socket Mode attempt (?P<n>\d+) failed: (?P<problem>.*); retrying in (?P<wait>[\d.]+) s"
)


class Cli:
    """`python -m bot socket` as a child process whose output is read while it runs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = asyncio.Event()
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(process.stdout, self.stdout)),
            asyncio.create_task(self._read(process.stderr, self.stderr)),
        ]

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for raw in stream:
            into.append(raw.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    @property
    def output(self) -> str:
        return "\n".join(self.stdout + self.stderr)

    def attempts(self) -> list[re.Match[str]]:
        return [m for line in self.stderr if (m := ATTEMPT_LINE.search(line))]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Until `predicate()` holds (or the process has ended and its output is read)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if all(reader.done() for reader in self._readers):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def exit_code(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(*self._readers)


@contextlib.asynccontextmanager
async def socket_cli(
    tmp_path: Path, api_url: str, extra: dict[str, str] | None = None
) -> AsyncIterator[Cli]:
    env = {
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}",
        "SLACK_API_URL": api_url,
        "SOCKET_RETRY_SECONDS": "0.05",
        # Slack client's own retries of a failed connection: short, so each attempt is quick.
        "RETRY_BACKOFF_SECONDS": "0.01",
    } | (extra or {})
    clean = cli_environment(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "socket",
        cwd=tmp_path,
        env=clean,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    cli = Cli(process)
    try:
        yield cli
    finally:
        await cli.stop()


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackServer]:
    server = SlackServer()
    await server.start()
    yield server
    await server.stop()


async def test_a_refused_app_token_stops_start_up_in_one_line(
    tmp_path: Path, slack_api: SlackServer
) -> None:
    slack_api.failures["apps.connections.open"] = "invalid_auth"
    async with socket_cli(tmp_path, slack_api.api_url) as cli:
        code = await cli.exit_code(timeout=8)

    assert code == 2, cli.output
    assert "Traceback" not in cli.output
    last = cli.stderr[-1]
    assert last.startswith("quota-bot: "), cli.output
    assert "SLACK_APP_TOKEN" in last
    assert "invalid_auth" in last
    assert "\n" not in last and len(last) < 300
    # Tried once: a refused token is not worth a retry.
    assert len(slack_api.calls_to("apps.connections.open")) == 1
    assert cli.attempts() == []


async def test_unreachable_slack_is_retried_one_line_per_attempt_with_growing_waits(
    tmp_path: Path,
) -> None:
    async with socket_cli(tmp_path, UNREACHABLE) as cli:
        await cli.wait_for(lambda: len(cli.attempts()) >= 3, timeout=12)
        assert cli.process.returncode is None, cli.output  # still trying, not crashed
        attempts = cli.attempts()

    assert len(attempts) >= 3, cli.output
    assert [int(m["n"]) for m in attempts] == list(range(1, len(attempts) + 1))
    for match in attempts:
        assert match["problem"].startswith("cannot reach Slack"), match.group(0)
        assert "127.0.0.1:1" in match["problem"]
    waits = [float(m["wait"]) for m in attempts]
    assert all(b > a for a, b in itertools.pairwise(waits)), waits
    # One line per attempt: no other line repeats the failure.
    failure_lines = [line for line in cli.stderr if "cannot reach Slack" in line]
    assert len(failure_lines) == len(attempts), cli.output
    assert "Traceback" not in cli.output


async def test_each_attempt_tries_slack_once(tmp_path: Path, slack_api: SlackServer) -> None:
    """The module's promise: the app-level token is tried once per attempt, so the wait each
    line announces is the real wait (no connection retries hidden inside an attempt)."""
    slack_api.drops.add("apps.connections.open")  # the connection closes without an answer
    async with socket_cli(tmp_path, slack_api.api_url) as cli:
        await cli.wait_for(lambda: len(cli.attempts()) >= 1, timeout=8)
    attempts = cli.attempts()
    assert attempts, cli.output
    assert attempts[0]["problem"].startswith("cannot reach Slack"), attempts[0].group(0)
    requests = len(slack_api.calls_to("apps.connections.open"))
    # The last attempt may have been in flight when the process was stopped.
    assert requests <= len(attempts) + 1, (
        f"{requests} requests to apps.connections.open for {len(attempts)} logged attempt(s):\n"
        + cli.output
    )


async def test_a_transient_slack_error_is_retried_not_fatal(
    tmp_path: Path, slack_api: SlackServer
) -> None:
    slack_api.failures["apps.connections.open"] = "internal_error"
    async with socket_cli(tmp_path, slack_api.api_url) as cli:
        await cli.wait_for(lambda: len(cli.attempts()) >= 2, timeout=8)
        assert cli.process.returncode is None, cli.output
        attempts = cli.attempts()
        assert len(attempts) >= 2, cli.output
        assert all(m["problem"] == "Slack said internal_error" for m in attempts)
        assert "Traceback" not in cli.output

        # Once Slack answers, the bot goes on to connect.
        del slack_api.failures["apps.connections.open"]
        await cli.wait_for(lambda: "Connected to Slack over Socket Mode" in cli.output, 5)
        assert "Connected to Slack over Socket Mode" in cli.output, cli.output


# --- Slash commands delivered over the WebSocket -------------------------------------------


class AceData:
    """Ace Data Cloud's application reads, on a loopback port the child process can reach
    (respx patches only this process). `gate`, while unset, holds every application read."""

    def __init__(self) -> None:
        self.requests: list[web.Request] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()  # an application read is waiting at the closed gate
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/applications/", self._list)
        app.router.add_get("/api/v1/applications/{id}", self._read)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        self.gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _list(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        global_balance = application(GLOBAL_APP_ID, remaining=1234.5, scope="Global")
        return web.json_response({"count": 1, "items": [global_balance]})

    async def _read(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        if request.match_info["id"] != APP_ID:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response(application(APP_ID))


@dataclass
class SocketBot:
    """The bot under `quota-bot socket`, and everything it talks to."""

    cli: Cli
    sockets: SocketModeServer
    slack: SlackServer
    acedata: AceData

    async def command(
        self, text: str, *, user: str, changes: dict[str, Any] | None = None
    ) -> tuple[str, str]:
        """Send `/quota <text>` over the WebSocket (its fields replaced by `changes`); its
        envelope_id and response_url key."""
        key = f"sock{next(_keys)}"
        fields = {
            "token": "legacy",
            "team_id": TEAM_ID,
            "team_domain": "acme",
            "channel_id": CHANNEL,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/quota",
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": self.slack.response_url(key),
            "trigger_id": f"trigger.{key}",
        } | (changes or {})
        return await self.sockets.send_slash_command(fields), key

    async def quota(self, text: str, *, user: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """`/quota <text>`: the ack (which must come within Slack's 3 seconds) and the message
        then posted to the response_url."""
        envelope_id, key = await self.command(text, user=user)
        ack = await self.sockets.wait_for_ack(envelope_id, timeout=3)
        return ack, await self.slack.wait_for_response(key, timeout=10)

    async def link_prod(self) -> None:
        ack, reply = await self.quota(f"link prod {APP_ID}", user=ADMIN)
        assert "payload" not in ack, ack
        assert "*prod* now points to Midjourney" in reply["text"], reply


_keys = itertools.count(1)


@contextlib.asynccontextmanager
async def socket_bot(
    tmp_path: Path, database_url: str, encryption_key: str, extra: dict[str, str] | None = None
) -> AsyncIterator[SocketBot]:
    sockets = SocketModeServer()
    slack = SlackServer(users={ADMIN: {"name": "alice", "is_admin": True}, MEMBER: {"name": "bob"}})
    acedata = AceData()
    await sockets.start()
    slack.socket_url = sockets.url
    await slack.start()
    await acedata.start()
    env = {
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEY": encryption_key,
        "ACEDATA_BASE_URL": acedata.base_url,
        # The operator's token: no modal needed to give the workspace one.
        "ACEDATA_PLATFORM_TOKEN": PLATFORM_TOKEN,
    } | (extra or {})
    try:
        async with socket_cli(tmp_path, slack.api_url, env) as cli:
            bot = SocketBot(cli, sockets, slack, acedata)
            try:
                await sockets.wait_for_connection(timeout=15)
            except TimeoutError:
                raise AssertionError(f"never connected:\n{cli.output}") from None
            yield bot
    finally:
        await sockets.stop()
        await acedata.stop()
        await slack.stop()


async def test_a_slash_command_over_the_socket_is_acked_and_answered(
    tmp_path: Path, database_url: str, encryption_key: str
) -> None:
    async with socket_bot(tmp_path, database_url, encryption_key) as bot:
        assert bot.slack.calls_to("apps.connections.open")[0].headers["Authorization"] == (
            f"Bearer {APP_TOKEN}"
        )
        await bot.link_prod()

        envelope_id, key = await bot.command("prod", user=MEMBER)
        ack = await bot.sockets.wait_for_ack(envelope_id, timeout=3)  # Slack's limit
        card = await bot.slack.wait_for_response(key, timeout=10)

        # Acked at once and empty: the card goes to the response_url.
        assert ack == {"envelope_id": envelope_id}
        assert card["response_type"] == "in_channel"
        text = Reply(card, via_ack=False).text
        assert "Midjourney · prod" in text
        assert "493.22 Credits" in text
        assert "*Global balance*\n1,234.50 Credits" in text
        reads = [r for r in bot.acedata.requests if r.path == f"/api/v1/applications/{APP_ID}"]
        assert reads and all(
            r.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}" for r in reads
        )

        # An answer that fits in the ack comes back as the ack's payload.
        help_id, _ = await bot.command("help", user=MEMBER)
        help_ack = await bot.sockets.wait_for_ack(help_id, timeout=3)
        assert help_ack["payload"]["response_type"] == "ephemeral"
        assert "Quota Bot help" in help_ack["payload"]["text"], help_ack

        # One connection the whole time, on the URL of the one `apps.connections.open`.
        assert (bot.sockets.connections, bot.sockets.closed) == (1, 0)
        assert len(bot.slack.calls_to("apps.connections.open")) == 1
    assert "Traceback" not in bot.cli.output, bot.cli.output


async def test_a_malformed_envelope_is_refused_and_the_connection_lives_on(
    tmp_path: Path, database_url: str, encryption_key: str
) -> None:
    async with socket_bot(tmp_path, database_url, encryption_key) as bot:
        await bot.link_prod()

        await bot.sockets.send_raw("this is not JSON")
        not_an_object = await bot.sockets.send_envelope("slash_commands", ["not", "an", "object"])
        no_user, _ = await bot.command("prod", user=MEMBER, changes={"user_id": None})
        odd_press = await bot.sockets.send_envelope(
            "interactive", {"type": "block_actions", "team": TEAM_ID, "actions": "x"}
        )
        # Each is dealt with before the next command's ack; the bot says so once each.
        await bot.cli.wait_for(
            lambda: (
                bot.cli.output.count("Unsuccessful Bolt execution result") >= 2
                and "Unsupported payload" in bot.cli.output
            ),
            5,
        )

        ack, card = await bot.quota("prod", user=MEMBER)

        assert ack == {"envelope_id": ack["envelope_id"]}
        assert "Midjourney · prod" in Reply(card, via_ack=False).text
        # Refused as HTTP answers 400: not acknowledged, so Slack tells the user it failed.
        assert not {not_an_object, no_user, odd_press} & bot.sockets.acks.keys()
        assert (bot.sockets.connections, bot.sockets.closed) == (1, 0)
        refusals = [line for line in bot.cli.stderr if "Refused a malformed" in line]
        assert len(refusals) == 2, bot.cli.output
        assert "SlashCommand: user_id" in refusals[0]
        assert "ButtonPress" in refusals[1]
        assert len([line for line in bot.cli.stderr if "Unsupported payload" in line]) == 1
    assert "Traceback" not in bot.cli.output, bot.cli.output


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_closes_the_socket_and_lets_work_in_flight_finish(
    tmp_path: Path, database_url: str, encryption_key: str, signal_number: int
) -> None:
    async with socket_bot(tmp_path, database_url, encryption_key) as bot:
        await bot.link_prod()
        bot.acedata.gate.clear()  # the card's application read waits
        envelope_id, key = await bot.command("prod", user=MEMBER)
        await bot.sockets.wait_for_ack(envelope_id)
        await asyncio.wait_for(bot.acedata.held.wait(), 5)

        bot.cli.process.send_signal(signal_number)
        # No new envelopes: the WebSocket closes first, then the card is finished.
        await bot.sockets.wait_for_close(timeout=5)
        await bot.cli.wait_for(lambda: "in flight to finish" in bot.cli.output, 5)
        assert bot.cli.process.returncode is None, bot.cli.output
        bot.acedata.gate.set()
        card = await bot.slack.wait_for_response(key, timeout=10)
        code = await bot.cli.exit_code(timeout=10)

    assert "Midjourney · prod" in Reply(card, via_ack=False).text
    assert code == 0, bot.cli.output
    assert "Traceback" not in bot.cli.output, bot.cli.output
    assert bot.sockets.connections == 1  # closed for good, not reconnected


async def test_sigterm_while_slack_is_unreachable_stops_at_once(tmp_path: Path) -> None:
    async with socket_cli(tmp_path, UNREACHABLE, {"SOCKET_RETRY_SECONDS": "30"}) as cli:
        await cli.wait_for(lambda: len(cli.attempts()) >= 1, timeout=8)
        assert cli.attempts(), cli.output
        cli.process.terminate()  # during the 30 s wait before the next attempt
        code = await cli.exit_code(timeout=5)

    assert code == 0, cli.output
    assert "Traceback" not in cli.output, cli.output
