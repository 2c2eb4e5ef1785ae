"""The command line an operator uses: clear one-line errors, migrations, and a real start-up."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from .conftest import BOT_TOKEN, SIGNING_SECRET

SETTING_NAMES = [
    "DATABASE_URL",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "ACEDATA_BASE_URL",
    "ACEDATA_PLATFORM_TOKEN",
    "ENCRYPTION_KEY",
    "PORT",
]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES} | env
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_SIGNING_SECRET is required but not set"),
        ({"SLACK_SIGNING_SECRET": SIGNING_SECRET}, "SLACK_BOT_TOKEN is required but not set"),
        (
            {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "not-a-bot-token"},
            "SLACK_BOT_TOKEN is invalid",
        ),
        (
            {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN, "PORT": "http"},
            "PORT is invalid",
        ),
        (
            {
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "DATABASE_URL": "mysql://x@y/z",
            },
            "DATABASE_URL is invalid: must start with sqlite:// or postgresql://",
        ),
        (
            {
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "DATABASE_URL": "postgresql://u:hunter2@db.internal:port/quota",
            },
            "DATABASE_URL is invalid: is not a database URL",
        ),
        (
            {
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db",
            },
            "ENCRYPTION_KEY is required for this DATABASE_URL",
        ),
        (
            {
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "ENCRYPTION_KEY": "too-short",
            },
            "ENCRYPTION_KEY must be Fernet keys",
        ),
    ],
    ids=[
        "no secret",
        "no token",
        "bad token",
        "bad port",
        "bad db",
        "bad db url",
        "pg no key",
        "bad key",
    ],
)
def test_bad_configuration_stops_serve_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = run_cli("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]]
    assert named in lines[0]
    assert "Traceback" not in result.stderr
    for secret in (BOT_TOKEN, SIGNING_SECRET, "not-a-bot-token", "too-short", "hunter2"):
        assert secret not in result.stderr


def test_unreachable_postgres_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli(
        "migrate",
        cwd=tmp_path,
        env={"DATABASE_URL": "postgresql://user:hunter2@127.0.0.1:1/db"},
    )
    assert result.returncode == 2
    assert "cannot migrate the database" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "ops.db"
    result = run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    tables = set(inspect(create_engine(f"sqlite:///{database}")).get_table_names())
    assert {"workspaces", "aliases", "bot_admins", "audit_events", "alembic_version"} <= tables


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_on_sqlite_needs_nothing_but_the_slack_secrets(tmp_path: Path) -> None:
    """The README's first command: a fresh directory, two variables, and the bot is up."""
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env = clean | {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
    env["PORT"] = str(port)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert (tmp_path / "quota-bot.db").exists()
    key_file = tmp_path / "quota-bot.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"generated a new encryption key in {key_file.name}" in output or str(key_file) in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output
    assert "Traceback" not in output
