"""The command line an operator uses: clear one-line errors, migrations, and a real start-up."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, inspect, text

from bot.config import CONFIG_HELP, Settings
from tests.support.client import APP_ID, cli_environment
from tests.support.server import BOT_TOKEN, SIGNING_SECRET
from tests.support.slack_server import SlackServer


def run_cli(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = cli_environment(env)
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
            "ENCRYPTION_KEY is invalid: must be Fernet keys",
        ),
        (
            {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-"},
            "SLACK_BOT_TOKEN is required but not set",
        ),
        (
            {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_CLIENT_ID": "1234.5678"},
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set together",
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
        "placeholder token",
        "client id without its secret",
    ],
)
def test_bad_configuration_stops_serve_with_a_clear_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = run_cli("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    [line] = problem_lines(result)
    assert line.startswith("quota-bot: ")
    assert named in line
    assert "Traceback" not in result.stderr
    for secret in (BOT_TOKEN, SIGNING_SECRET, "not-a-bot-token", "too-short", "hunter2"):
        assert secret not in result.stderr


def problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines naming a problem, once the closing pointer to the docs is checked and dropped."""
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"quota-bot: {CONFIG_HELP}"
    return lines[:-1]


def test_unedited_env_example_names_every_missing_setting(tmp_path: Path) -> None:
    shutil.copyfile(Path(__file__).resolve().parents[2] / ".env.example", tmp_path / ".env")
    result = run_cli("serve", cwd=tmp_path, env={})
    assert result.returncode == 2
    assert problem_lines(result) == [
        "quota-bot: SLACK_SIGNING_SECRET is required but not set",
        "quota-bot: SLACK_BOT_TOKEN is required but not set (or set SLACK_CLIENT_ID and "
        "SLACK_CLIENT_SECRET to install in any number of workspaces)",
    ]
    assert not (tmp_path / "quota-bot.db").exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    env = {"PORT": "http", "ENCRYPTION_KEY": "notakey", "SLACK_BOT_TOKEN": "xoxp-user-token"}
    result = run_cli("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    lines = problem_lines(result)
    assert len(lines) == 4
    for named in (
        "SLACK_BOT_TOKEN is invalid: must be a bot token starting with xoxb-",
        "ENCRYPTION_KEY is invalid",
        "PORT is invalid",
        "SLACK_SIGNING_SECRET is required but not set",
    ):
        assert any(named in line for line in lines), (named, lines)
    assert "notakey" not in result.stderr and "xoxp-user-token" not in result.stderr


def test_a_malformed_key_stops_migrate_too(tmp_path: Path) -> None:
    result = run_cli("migrate", cwd=tmp_path, env={"ENCRYPTION_KEY": "notakey"})
    assert result.returncode == 2
    assert problem_lines(result) == [
        "quota-bot: ENCRYPTION_KEY is invalid: must be Fernet keys (32 url-safe base64 bytes), "
        "comma-separated, newest first"
    ]


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        (
            "postgresql://user:hunter2@127.0.0.1:1/db",
            "DATABASE_URL: nothing is listening at 127.0.0.1:1 (connection refused)",
        ),
        (
            "postgresql://user:hunter2@db.nonexistent.invalid/db",
            "DATABASE_URL: the host name in it cannot be resolved (db.nonexistent.invalid:5432)",
        ),
        ("sqlite:///{tmp}", "cannot be opened or created"),
    ],
    ids=["refused", "unresolvable", "a directory"],
)
def test_migrate_names_database_url_and_the_cause(tmp_path: Path, url: str, cause: str) -> None:
    result = run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": url.format(tmp=tmp_path)})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("quota-bot: cannot migrate the database — DATABASE_URL: ")
    assert cause in line
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_creates_a_missing_sqlite_directory(tmp_path: Path) -> None:
    database = tmp_path / "data" / "nested" / "ops.db"
    result = run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert database.exists()


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "ops.db"
    result = run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    tables = set(inspect(create_engine(f"sqlite:///{database}")).get_table_names())
    assert {"workspaces", "aliases", "bot_admins", "audit_events", "alembic_version"} <= tables


def test_rotate_key_re_encrypts_under_the_newest_key_and_says_so(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = f"sqlite:///{tmp_path / 'ops.db'}"
    assert run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": database}).returncode == 0
    with create_engine(database).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workspaces (team_id, acedata_token, created_at) "
                "VALUES ('T0001', :token, CURRENT_TIMESTAMP)"
            ),
            {"token": Fernet(old.encode()).encrypt(b"platform-v1-secret").decode()},
        )

    result = run_cli(
        "rotate-key", cwd=tmp_path, env={"DATABASE_URL": database, "ENCRYPTION_KEY": f"{new},{old}"}
    )

    assert result.returncode == 0, result.stderr
    assert "Re-encrypted 1 secret(s) under the newest key; 0 already were." in result.stdout
    with create_engine(database).connect() as connection:
        stored = connection.execute(text("SELECT acedata_token FROM workspaces")).scalar_one()
    assert Fernet(new.encode()).decrypt(stored.encode()) == b"platform-v1-secret"
    assert "platform-v1-secret" not in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_on_sqlite_needs_nothing_but_the_slack_secrets(tmp_path: Path) -> None:
    """The README's first command: a fresh directory, two variables, and the bot is up."""
    port = _free_port()
    env = cli_environment({"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN})
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
        # A URL that may carry a secret (an OAuth code) is not written to the log.
        httpx.get(f"http://127.0.0.1:{port}/slack/oauth_redirect?code=c0de-SECRET", timeout=5)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "c0de-SECRET" not in output
    assert (tmp_path / "quota-bot.db").exists()
    key_file = tmp_path / "quota-bot.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"generated a new encryption key in {key_file.name}" in output or str(key_file) in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output
    assert "Traceback" not in output
    assert "will be unused" not in output  # Bolt's warning about the token it reads itself


def test_a_busy_port_is_said_in_one_line_before_anything_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
        result = run_cli("serve", cwd=tmp_path, env=env | {"PORT": str(port)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"quota-bot: PORT {port} is in use on 0.0.0.0: stop the other process or set PORT to a "
        "free port"
    ]
    assert not (tmp_path / "quota-bot.db").exists()


def test_an_sqlite_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    url = f"sqlite:///{blocker}/data/ops.db"
    for command in ("migrate", "serve"):
        env = {"DATABASE_URL": url, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
        result = run_cli(command, cwd=tmp_path, env=env | {"SLACK_BOT_TOKEN": BOT_TOKEN})
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"quota-bot: DATABASE_URL: cannot create the directory {blocker}/data (Not a directory)"
        ]


def test_a_damaged_key_file_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "quota-bot.db.key").write_text("damaged\n")
    env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
    result = run_cli("serve", cwd=tmp_path, env=env | {"PORT": str(_free_port())})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("quota-bot: the key file quota-bot.db.key does not hold a Fernet key")
    assert "ENCRYPTION_KEY" not in line
    assert "damaged" not in line


def test_purge_workspace_lists_first_then_deletes_only_that_workspace(
    tmp_path: Path, database_url: str, db: Engine, encryption_key: str
) -> None:
    with db.begin() as connection:
        for team in ("TGONE", "TKEEP"):
            connection.execute(
                text("INSERT INTO workspaces (team_id, created_at) VALUES (:t, :now)"),
                {"t": team, "now": datetime.now(UTC)},
            )
            connection.execute(
                text(
                    "INSERT INTO aliases (team_id, name, application_id, created_by, created_at)"
                    " VALUES (:t, 'prod', :app, 'U1', :now)"
                ),
                {"t": team, "app": APP_ID, "now": datetime.now(UTC)},
            )
    env = {"DATABASE_URL": database_url, "ENCRYPTION_KEY": encryption_key}

    asked = run_cli("purge-workspace", "TGONE", cwd=tmp_path, env=env)
    assert asked.returncode == 1
    assert "Workspace TGONE has: aliases 1, workspaces 1." in asked.stdout
    assert "purge-workspace TGONE --yes" in asked.stdout
    assert count(db, "aliases") == 2

    done = run_cli("purge-workspace", "TGONE", "--yes", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Purged workspace TGONE: deleted aliases 1, workspaces 1" in done.stderr
    with db.connect() as connection:
        left = connection.execute(text("SELECT team_id FROM workspaces")).scalars().all()
    assert left == ["TKEEP"] and count(db, "aliases") == 1

    bad = run_cli("purge-workspace", "prod; DROP TABLE", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "is not a Slack team ID" in bad.stderr


def count(db: Engine, table: str) -> int:
    with db.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_web_concurrency_runs_that_many_server_processes(tmp_path: Path) -> None:
    port = _free_port()
    env = cli_environment({"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN})
    env |= {"PORT": str(port), "WEB_CONCURRENCY": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        answered = 0
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and answered < 4:
            try:
                answered += httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success
            except httpx.TransportError:
                time.sleep(0.2)
        assert answered == 4
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "(2 processes)" in output
    workers = set(re.findall(r"Started server process \[(\d+)\]", output))
    assert len(workers) == 2, output
    assert "Traceback" not in output


async def test_a_bot_token_slack_refuses_stops_serve_with_one_line(
    tmp_path: Path, slack: SlackServer
) -> None:
    """auth.test says invalid_auth: not an outage to wait out, a setting to fix."""
    slack.failures["auth.test"] = "invalid_auth"
    env = cli_environment(
        {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "PORT": str(_free_port()),
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    lines = output.decode().strip().splitlines()

    assert process.returncode == 2
    assert lines == [
        "quota-bot: SLACK_BOT_TOKEN was refused by Slack (invalid_auth): copy the Bot User OAuth "
        "Token (xoxb-…) from the app's OAuth & Permissions page, or reinstall the app"
    ]
    assert BOT_TOKEN not in output.decode()
    assert not (tmp_path / "quota-bot.db").exists()


def test_env_example_names_every_setting() -> None:
    """README: `.env.example` lists every setting the bot reads."""
    example = (ROOT / ".env.example").read_text()
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in example]
    assert missing == []


ROOT = Path(__file__).resolve().parents[2]
