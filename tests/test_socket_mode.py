"""`quota-bot socket` start-up: a refused app token stops the process in one line; an
unreachable or briefly failing Slack is retried with a growing wait, one line per attempt."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from .client import cli_environment
from .conftest import BOT_TOKEN
from .slack_server import SlackServer

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
async def socket_cli(tmp_path: Path, api_url: str) -> AsyncIterator[Cli]:
    env = {
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}",
        "SLACK_API_URL": api_url,
        "SOCKET_RETRY_SECONDS": "0.05",
        # Slack client's own retries of a failed connection: short, so each attempt is quick.
        "RETRY_BACKOFF_SECONDS": "0.01",
    }
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
