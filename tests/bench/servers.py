"""Starting and stopping the processes under test: the stand-ins, the floors, and the bot as in
production (`python -m bot serve`), on a fresh SQLite file or a freshly recreated PostgreSQL
schema."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.config import Settings

from .common import (
    ADMIN,
    BOT_TOKEN,
    CHANNEL,
    PLATFORM_TOKEN,
    REPO,
    SIGNING_SECRET,
    TEAM_ID,
    free_port,
    tree_peak_rss_mib,
)

ENCRYPTION_KEY = Fernet.generate_key().decode()


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any of the bot's settings (whatever the developer
    exported), the repository on the path, plus `extra`."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env | extra


@dataclass
class Child:
    """A process the bench started; only it is ever signalled, by its own pid."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def peak_rss_mib(self) -> float | None:
        return tree_peak_rss_mib(self.pid) if self.alive() else None

    def stop(self, grace: float = 15.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    logdir: Path,
    cwd: Path = REPO,
    stdout: int | IO[bytes] | None = None,
) -> Child:
    log = logdir / f"{name}.log"
    handle = log.open("ab")
    popen = subprocess.Popen(
        [sys.executable, *argv],
        env=env,
        cwd=cwd,
        stdout=handle if stdout is None else stdout,
        stderr=handle,
    )
    handle.close()
    return Child(name, popen, log)


def http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class StandinsProcess:
    child: Child
    slack_port: int
    ace_port: int

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.slack_port}"

    @property
    def slack_api_url(self) -> str:
        return f"{self.slack_url}/api/"

    @property
    def ace_url(self) -> str:
        return f"http://127.0.0.1:{self.ace_port}"

    def configure(self, *, ace_latency: float, slack_latency: float) -> None:
        http_json(
            f"{self.slack_url}/_bench/config",
            {"ace_latency": ace_latency, "slack_latency": slack_latency},
        )

    def reset(self) -> None:
        http_json(f"{self.slack_url}/_bench/reset", {})

    def stats(self) -> dict[str, Any]:
        return http_json(f"{self.slack_url}/_bench/stats")

    def arrivals(self, prefix: str) -> dict[str, list[Any]]:
        found = http_json(f"{self.slack_url}/_bench/arrivals?prefix={prefix}")["arrivals"]
        return {key: rest for key, *rest in found}


def start_standins(logdir: Path) -> StandinsProcess:
    child = spawn(
        "standins",
        ["-m", "tests.bench.standins"],
        env=clean_environment({}),
        logdir=logdir,
        stdout=subprocess.PIPE,
    )
    assert child.popen.stdout is not None
    line = child.popen.stdout.readline()
    if not line:
        raise RuntimeError(f"the stand-ins did not start:\n{child.tail()}")
    ports = json.loads(line)
    return StandinsProcess(child, ports["slack_port"], ports["ace_port"])


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, child: Child | None = None
) -> None:
    """Poll `check` until it holds; RuntimeError (with the log's tail) if `child` exits or
    `timeout` passes. Connection errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{what}: the process exited\n{child.tail()}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.1)
    tail = f"\n{child.tail()}" if child else ""
    raise RuntimeError(f"{what}: not ready within {timeout:g} s{tail}")


@dataclass
class Floor:
    kind: str
    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"


def start_floor(kind: str, standins: StandinsProcess, logdir: Path) -> Floor:
    port = free_port()
    child = spawn(
        f"floor-{kind}",
        [
            "-m",
            "tests.bench.floors",
            kind,
            "--port",
            str(port),
            "--secret",
            SIGNING_SECRET,
            "--slack-api-url",
            standins.slack_api_url,
            "--ace-url",
            standins.ace_url,
        ],
        env=clean_environment({}),
        logdir=logdir,
    )
    floor = Floor(kind, child, port)
    wait_until(lambda: _answers(floor.url), timeout=30, what=f"floor {kind}", child=child)
    return floor


def _answers(url: str) -> bool:
    """Whether anything listens there (an unsigned POST is refused, which is an answer)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x"), timeout=2)
    except urllib.error.HTTPError:
        return True
    return True


# Databases -------------------------------------------------------------------------------


@dataclass
class DatabaseTarget:
    """Where a bot keeps its data: `sqlite` (a new file per run) or `postgresql` (the schema
    dropped and recreated per run)."""

    kind: str
    postgres_url: str | None = None
    workdir: Path = field(default_factory=Path)
    _runs: int = 0

    def fresh(self, name: str) -> str:
        """A DATABASE_URL for an empty database."""
        self._runs += 1
        if self.kind == "sqlite":
            path = self.workdir / f"{name}-{self._runs}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        assert self.postgres_url is not None
        engine = create_engine(_sync_url(self.postgres_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return self.postgres_url


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = "sqlite" if backend == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def count_rows(database_url: str, table: str) -> int:
    engine = create_engine(_sync_url(database_url))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def execute(database_url: str, statement: str) -> None:
    sqlite = database_url.startswith("sqlite")
    engine = create_engine(_sync_url(database_url), connect_args={"timeout": 10} if sqlite else {})
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


# The bot ------------------------------------------------------------------------------------


def bot_environment(
    database_url: str, standins: StandinsProcess, *, port: int = 0, oauth: bool = False
) -> dict[str, str]:
    settings = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": standins.slack_api_url,
        "ACEDATA_BASE_URL": standins.ace_url,
        "ACEDATA_PLATFORM_TOKEN": PLATFORM_TOKEN,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "HOST": "127.0.0.1",
        "PORT": str(port or 3000),
        "SCHEDULER_IN_WEB": "off",
    }
    if oauth:
        settings |= {"SLACK_CLIENT_ID": "1111.2222", "SLACK_CLIENT_SECRET": "bench-client-secret"}
    else:
        settings["SLACK_BOT_TOKEN"] = BOT_TOKEN
    return clean_environment(settings)


def migrate(env: dict[str, str], logdir: Path, name: str) -> None:
    child = spawn(f"{name}-migrate", ["-m", "bot", "migrate"], env=env, logdir=logdir, cwd=logdir)
    if child.popen.wait(120) != 0:
        raise RuntimeError(f"quota-bot migrate failed:\n{child.tail()}")


@dataclass
class Bot:
    name: str
    database: str  # "sqlite" or "postgresql"
    database_url: str
    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"


def start_bot(name: str, target: DatabaseTarget, standins: StandinsProcess, logdir: Path) -> Bot:
    """`quota-bot serve` on an empty database, once it answers `/quota help` (it learns who it is
    from `auth.test` in the background first)."""
    database_url = target.fresh(name)
    port = free_port()
    env = bot_environment(database_url, standins, port=port)
    migrate(env, logdir, name)
    child = spawn(name, ["-m", "bot", "serve"], env=env, logdir=logdir, cwd=logdir)
    bot = Bot(name, target.kind, database_url, child, port)
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: http_json(f"{base}/healthz").get("status") == "ok",
        timeout=60,
        what=f"bot {name}",
        child=child,
    )
    wait_until(lambda: _helps(bot), timeout=30, what=f"bot {name} (auth.test)", child=child)
    return bot


def _helps(bot: Bot) -> bool:
    from .signing import CommandSigner

    signer = CommandSigner(
        secret=SIGNING_SECRET, team=TEAM_ID, channel=CHANNEL, user=ADMIN, response_base="http://x"
    )
    item = signer.sign(f"probe-{time.monotonic_ns()}", "help")
    request = urllib.request.Request(bot.url, data=item.body, headers=item.headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return b"Quota Bot help" in response.read()
