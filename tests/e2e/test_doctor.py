"""`quota-bot doctor` as an operator runs it after deploying: the real command in its own process,
against the Slack stand-in, a loopback Ace Data Cloud, a real database and the bot's own
/healthz. Every ✗ it can report is produced here by breaking one thing of a healthy deployment,
and no run prints a secret."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, insert, text

from bot.config import Settings
from bot.db.migrate import alembic_config, upgrade_to_head
from bot.db.models import Heartbeat
from tests.support.client import PLATFORM_TOKEN, TOKEN_OWNER, cli_environment
from tests.support.loopback import serve_on_loopback
from tests.support.oauth import CLIENT_ID, CLIENT_SECRET
from tests.support.server import BOT_TOKEN, SIGNING_SECRET, serve
from tests.support.slack_server import TEAM_ID, SlackServer, Workspace

SCOPES = "commands,chat:write,users:read,links:read,links:write"
ACME = Workspace("TAAAA", "Acme", "xoxb-acme-bot-token-0a1b", "UINSTA")
BETA = Workspace("TBBBB", "Beta", "xoxb-beta-bot-token-2c3d", "UINSTB")
OTHER_TOKEN = "platform-v1-" + "0" * 56 + "beta"


@dataclass
class AceDataCloud:
    """Ace Data Cloud's `/platform-tokens/me/` on a loopback port: the owner of each token it
    knows, 401 for any other."""

    owners: dict[str, dict[str, str]] = field(default_factory=dict)
    # Tokens whose check Ace Data Cloud fails with a 500.
    failing: set[str] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/platform-tokens/me/", self._me)
        self._runner, self.port = await serve_on_loopback(app)

    async def _me(self, request: web.Request) -> web.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.failing:
            return web.json_response({"detail": "Internal error."}, status=500)
        if token in self.owners:
            return web.json_response(self.owners[token])
        return web.json_response({"detail": "Invalid token."}, status=401)


@pytest.fixture
async def ace() -> AsyncIterator[AceDataCloud]:
    server = AceDataCloud(owners={PLATFORM_TOKEN: TOKEN_OWNER})
    await server.start()
    yield server
    assert server._runner is not None
    await server._runner.cleanup()


@pytest.fixture
def env(
    database_url: str, encryption_key: str, slack: SlackServer, ace: AceDataCloud, db: Engine
) -> dict[str, str]:
    """A healthy single-workspace deployment: the workspace's token set, a scheduler round a
    moment ago, every scope granted."""
    slack.granted_scopes = SCOPES
    store_token(db, encryption_key, TEAM_ID, PLATFORM_TOKEN)
    beat(db, datetime.now(UTC))
    return {
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEY": encryption_key,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "ACEDATA_BASE_URL": ace.base_url,
        "RETRY_BACKOFF_SECONDS": "0.01",
        "SCHEDULER_IN_WEB": "off",
    }


def store_token(db: Engine, key: str, team_id: str, token: str) -> None:
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workspaces (team_id, acedata_token, acedata_account, created_at) "
                "VALUES (:team, :token, 'acme-ops', :now)"
            ),
            {"team": team_id, "token": encrypt(key, token), "now": datetime.now(UTC)},
        )


def encrypt(key: str, secret: str) -> str:
    return Fernet(key.encode()).encrypt(secret.encode()).decode()


def beat(db: Engine, when: datetime) -> None:
    with db.begin() as connection:
        connection.execute(insert(Heartbeat.__table__).values(name="scheduler", beat_at=when))


def install(db: Engine, key: str, workspace: Workspace) -> None:
    """A workspace's installation as the OAuth flow stores it (its bot token encrypted)."""
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO slack_bots (client_id, app_id, team_id, team_name, bot_token, "
                "bot_id, bot_user_id, bot_scopes, is_enterprise_install, installed_at) VALUES "
                "(:client, 'A0001', :team, :name, :token, :bot, :user, :scopes, false, :now)"
            ),
            {
                "client": CLIENT_ID,
                "team": workspace.team_id,
                "name": workspace.name,
                "token": encrypt(key, workspace.bot_token),
                "bot": f"B{workspace.team_id}",
                "user": f"UBOT{workspace.team_id}",
                "scopes": SCOPES,
                "now": datetime.now(UTC).replace(tzinfo=None),
            },
        )


@dataclass
class Run:
    status: int
    lines: list[str]
    output: str

    @property
    def checks(self) -> list[str]:
        """The lines of checks, without the title and the closing count."""
        return [line for line in self.lines[1:-1] if not line.startswith("  ")]

    @property
    def failed(self) -> list[str]:
        return [line for line in self.lines if line.startswith("✗ ")]


async def doctor(env: dict[str, str], cwd: Path) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "doctor",
        cwd=cwd,
        env=cli_environment(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    run = Run(process.returncode, out.decode().splitlines(), out.decode() + err.decode())
    assert "Traceback" not in run.output
    for secret in (BOT_TOKEN, SIGNING_SECRET, PLATFORM_TOKEN, OTHER_TOKEN, CLIENT_SECRET):
        assert secret not in run.output
    for secret in (ACME.bot_token, BETA.bot_token, env.get("ENCRYPTION_KEY")):
        assert secret is None or secret not in run.output
    return run


def _settings(env: dict[str, str], **overrides: object) -> Settings:
    values = {name.lower(): value for name, value in env.items()} | overrides
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_a_healthy_deployment_is_all_ticks(
    env: dict[str, str], slack: SlackServer, tmp_path: Path
) -> None:
    async with serve(_settings(env), slack) as bot:
        run = await doctor(env | {"PUBLIC_URL": bot.base_url}, tmp_path)

    assert run.status == 0, run.output
    assert run.lines[0] == "Quota Bot 0.2.0 doctor"
    assert all(line.startswith("✓ ") for line in run.checks), run.output
    for said in (
        "✓ Settings: valid, single-workspace mode",
        "✓ Database: ",
        "✓ Encryption key: opens every stored secret",
        f"✓ Slack: SLACK_BOT_TOKEN works — bot UBOT in workspace Acme ({TEAM_ID})",
        "✓ Slack scopes: the bot has commands, chat:write, users:read, links:read, links:write",
        f"✓ Ace Data Cloud: workspace {TEAM_ID}'s token is valid, account acme-ops",
        "✓ Scheduler: last round ",
        f"✓ Public URL: {bot.base_url}/healthz answered 200, Quota Bot 0.2.0",
    ):
        assert any(line.startswith(said) for line in run.checks), (said, run.output)
    assert run.lines[-1] == "All 8 checks passed."
    # Read-only: Slack was only asked who the token is.
    assert {call.method for call in slack.calls} == {"auth.test"}


async def test_an_invalid_setting_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    run = await doctor({"PORT": "http", "PUBLIC_URL": "ftp://quota-bot.example.com"}, tmp_path)
    assert run.status == 1
    assert sorted(line.split(":")[1].strip() for line in run.failed) == [
        "PORT is invalid",
        "PUBLIC_URL is invalid",
    ]
    assert "- The other checks run once the settings are valid." in run.lines
    assert os.listdir(tmp_path) == []


async def test_a_fresh_directory_says_what_to_set_and_creates_nothing(tmp_path: Path) -> None:
    run = await doctor({}, tmp_path)
    assert run.status == 1
    assert run.failed[:3] == [
        "✗ Settings: SLACK_BOT_TOKEN is required but not set (or set SLACK_CLIENT_ID and "
        "SLACK_CLIENT_SECRET to install in any number of workspaces)",
        "✗ Settings: SLACK_SIGNING_SECRET is required but not set (or SLACK_APP_TOKEN, for "
        "`quota-bot socket`)",
        "✗ Database: the SQLite file quota-bot.db does not exist — run `quota-bot migrate` (or "
        "start `quota-bot serve`, which creates it)",
    ]
    assert os.listdir(tmp_path) == []  # neither a database nor a key file


async def test_an_unreachable_database_is_named_and_the_other_checks_still_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = "postgresql://quota:hunter2@127.0.0.1:1/quota"
    run = await doctor(env | {"DATABASE_URL": url}, tmp_path)
    assert run.status == 1
    assert run.failed == [
        "✗ Database: DATABASE_URL: nothing is listening at 127.0.0.1:1 (connection refused) — "
        "check DATABASE_URL and that the database server runs"
    ]
    assert any(line.startswith("- Not checked without the database: ") for line in run.lines)
    assert any(line.startswith("✓ Slack: SLACK_BOT_TOKEN works") for line in run.lines)
    assert "hunter2" not in run.output


@pytest.mark.parametrize(
    ("revision", "said"),
    [
        (
            "0008",
            "✗ Database: the schema is at revision 0008, the latest is 0010 — back up the "
            "database, then run `quota-bot migrate`",
        ),
        (None, "reachable but not migrated — run `quota-bot migrate`"),
        (
            "0042",
            "✗ Database: the schema is at revision 0042, which Quota Bot 0.2.0 does not know (a "
            "newer version migrated it) — run that newer version, or restore the backup taken "
            "before upgrading",
        ),
    ],
    ids=["behind", "never migrated", "newer"],
)
async def test_a_database_not_at_the_latest_schema_says_to_migrate(
    env: dict[str, str], tmp_path: Path, revision: str | None, said: str
) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    if revision is None:
        create_engine(url).connect().close()  # an empty file
    else:
        # Alembic's env runs its own event loop: off this one.
        await asyncio.to_thread(
            command.upgrade, alembic_config(url), "head" if revision == "0042" else revision
        )
    if revision == "0042":  # as a later Quota Bot would leave it
        with create_engine(url).begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0042'"))
    run = await doctor(env | {"DATABASE_URL": url}, tmp_path)
    assert run.status == 1
    [line] = [line for line in run.failed if line.startswith("✗ Database")]
    assert said in line
    assert any(line.startswith("- Not checked without the database") for line in run.lines)


async def test_a_secret_the_key_cannot_open_is_counted_with_the_fix(
    env: dict[str, str], db: Engine, tmp_path: Path
) -> None:
    store_token(db, Fernet.generate_key().decode(), "T0002", OTHER_TOKEN)
    run = await doctor(env, tmp_path)
    assert run.status == 1
    assert run.failed == [
        "✗ Encryption key: 1 Ace Data Cloud token(s) cannot be decrypted with the current key — "
        "restore the old key (ENCRYPTION_KEY=new,old), or have those workspaces set their token "
        "again with /quota token",
        "✗ Ace Data Cloud: workspace T0002's token cannot be decrypted — a bot admin of that "
        "workspace sets it again with /quota token",
    ]


async def test_a_bot_token_slack_refuses(
    env: dict[str, str], slack: SlackServer, tmp_path: Path
) -> None:
    slack.failures["auth.test"] = "invalid_auth"
    run = await doctor(env, tmp_path)
    assert run.status == 1
    assert run.failed == [
        "✗ Slack: SLACK_BOT_TOKEN was refused (invalid_auth) — copy the Bot User OAuth Token "
        "(xoxb-…) from the app's OAuth & Permissions page, or reinstall the app"
    ]


@pytest.mark.parametrize(
    ("granted", "said"),
    [
        (
            "commands,chat:write",
            "✗ Slack scopes: the bot lacks users:read, links:read, links:write — add them",
        ),
        (
            "commands",
            "✗ Slack scopes: the bot lacks chat:write, users:read, links:read, links:write "
            "— add them",
        ),
        (None, "✗ Slack scopes: Slack did not say which scopes the bot has"),
    ],
    ids=["one missing", "two missing", "not said"],
)
async def test_a_missing_scope_is_named(
    env: dict[str, str], slack: SlackServer, tmp_path: Path, granted: str | None, said: str
) -> None:
    slack.granted_scopes = granted
    run = await doctor(env, tmp_path)
    assert run.status == 1
    [line] = run.failed
    assert line.startswith(said), line


async def test_oauth_mode_counts_installations_and_names_a_revoked_one(
    env: dict[str, str], slack: SlackServer, db: Engine, tmp_path: Path
) -> None:
    key = env["ENCRYPTION_KEY"]
    for workspace in (ACME, BETA):
        slack.codes[workspace.team_id] = workspace  # auth.test answers for its token
        install(db, key, workspace)
    slack.revoked.add(BETA.bot_token)
    oauth = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}
    run = await doctor(env | oauth, tmp_path)
    assert run.status == 1
    assert "✓ Settings: valid, OAuth mode (any number of workspaces)" in run.lines
    assert run.failed == [
        "✗ Slack: 2 installation(s), 1 not working",
        "✗ Slack: the installation in Beta (TBBBB) does not work (token_revoked) — reinstall "
        "the app in that workspace",
    ]
    assert (
        "✓ Slack scopes: every working installation has "
        "commands, chat:write, users:read, links:read, links:write"
    ) in run.lines
    asked = {call.headers["Authorization"] for call in slack.calls_to("auth.test")}
    assert asked == {f"Bearer {ACME.bot_token}", f"Bearer {BETA.bot_token}"}


async def test_oauth_mode_without_installations_says_how_to_install(
    env: dict[str, str], tmp_path: Path
) -> None:
    oauth = {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "PUBLIC_URL": "http://127.0.0.1:1",
    }
    run = await doctor(env | oauth, tmp_path)
    assert (
        "✗ Slack: no workspace has installed the app yet — open "
        "http://127.0.0.1:1/slack/install to install it"
    ) in run.failed


async def test_an_ace_data_cloud_token_it_rejects(
    env: dict[str, str], ace: AceDataCloud, db: Engine, tmp_path: Path
) -> None:
    store_token(db, env["ENCRYPTION_KEY"], "T0002", OTHER_TOKEN)
    ace.owners[OTHER_TOKEN] = {"id": "u-2", "username": "beta-finance"}
    del ace.owners[PLATFORM_TOKEN]
    run = await doctor(env, tmp_path)
    assert run.status == 1
    assert run.failed == [
        f"✗ Ace Data Cloud: workspace {TEAM_ID}'s token was rejected — a bot admin of that "
        "workspace sets it again with /quota token"
    ]
    assert "✓ Ace Data Cloud: workspace T0002's token is valid, account beta-finance" in run.lines


async def test_no_token_at_all(env: dict[str, str], db: Engine, tmp_path: Path) -> None:
    with db.begin() as connection:
        connection.execute(text("UPDATE workspaces SET acedata_token = NULL"))
    run = await doctor(env, tmp_path)
    assert run.failed == [
        "✗ Ace Data Cloud: no platform token is set — a bot admin sets one with /quota token (or "
        "set ACEDATA_PLATFORM_TOKEN)"
    ]


@pytest.mark.parametrize(
    ("last_round", "said"),
    [
        (None, "✗ Scheduler: no round ever recorded"),
        (timedelta(minutes=7), "✗ Scheduler: last round 7 min ago"),
    ],
    ids=["never", "stopped"],
)
async def test_no_recent_scheduler_round_says_to_start_a_worker(
    env: dict[str, str], db: Engine, tmp_path: Path, last_round: timedelta | None, said: str
) -> None:
    with db.begin() as connection:
        connection.execute(text("DELETE FROM heartbeats"))
    if last_round is not None:
        beat(db, datetime.now(UTC) - last_round)
    run = await doctor(env, tmp_path)
    assert run.status == 1
    assert run.failed == [
        f"{said} — start `quota-bot worker`, or set SCHEDULER_IN_WEB=on so `quota-bot serve` "
        "runs it"
    ]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_public_url_that_does_not_answer(env: dict[str, str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    run = await doctor(env | {"PUBLIC_URL": url}, tmp_path)
    assert run.status == 1
    assert run.failed == [
        f"✗ Public URL: {url}/healthz did not answer (ConnectError) — check that `quota-bot "
        "serve` runs there and PUBLIC_URL is the address Slack uses"
    ]


async def test_a_public_url_whose_bot_is_unhealthy(
    env: dict[str, str], slack: SlackServer, tmp_path: Path
) -> None:
    broken = _settings(env, database_url="postgresql://nobody:wrong@127.0.0.1:1/none")
    async with serve(broken, slack) as bot:
        run = await doctor(env | {"PUBLIC_URL": bot.base_url}, tmp_path)
    assert run.status == 1
    assert run.failed == [
        f"✗ Public URL: {bot.base_url}/healthz answered 503 (database unavailable) — the bot "
        "there is up but unhealthy: check its log and DATABASE_URL"
    ]


async def test_a_public_url_that_is_not_the_bot(env: dict[str, str], tmp_path: Path) -> None:
    async def welcome(_: web.Request) -> web.Response:
        return web.Response(text="<html>Welcome to nginx</html>")

    app = web.Application()
    app.router.add_get("/healthz", welcome)
    runner, port = await serve_on_loopback(app)
    try:
        run = await doctor(env | {"PUBLIC_URL": f"http://127.0.0.1:{port}/"}, tmp_path)
    finally:
        await runner.cleanup()
    assert run.failed == [
        f"✗ Public URL: http://127.0.0.1:{port}/healthz answered 200 but not Quota Bot's JSON "
        "('<html>Welcome to nginx</html>') — check that `quota-bot serve` runs there and "
        "PUBLIC_URL is the address Slack uses"
    ]


@pytest.fixture
def sqlite_database(tmp_path: Path, encryption_key: str) -> Path:
    """A SQLite database with a stored token, whichever database the suite runs on: a key file
    is kept only beside a SQLite database."""
    database = tmp_path / "beside-its-key.db"
    upgrade_to_head(f"sqlite:///{database}")
    engine = create_engine(f"sqlite:///{database}")
    store_token(engine, encryption_key, TEAM_ID, PLATFORM_TOKEN)
    engine.dispose()
    return database


@pytest.mark.parametrize("key_file", [None, "damaged\n"], ids=["no key", "damaged key file"])
async def test_stored_secrets_without_their_key(
    env: dict[str, str], sqlite_database: Path, tmp_path: Path, key_file: str | None
) -> None:
    database = sqlite_database
    if key_file is not None:
        database.with_name(database.name + ".key").write_text(key_file)
    without_key = {name: value for name, value in env.items() if name != "ENCRYPTION_KEY"}
    without_key["DATABASE_URL"] = f"sqlite:///{database}"
    run = await doctor(without_key, tmp_path)
    assert run.status == 1
    [line, *_] = run.failed
    if key_file is None:
        assert line == (
            "✗ Encryption key: no ENCRYPTION_KEY and no key file, but 1 Ace Data Cloud token(s) "
            "are stored — set ENCRYPTION_KEY to the key they were stored with, or restore the key "
            f"file {database}.key from a backup"
        )
        assert not database.with_name(database.name + ".key").exists()  # none was made
    else:
        assert line.startswith(f"✗ Encryption key: the key file {database}.key does not hold a ")
    assert "damaged" not in run.output


async def test_slack_without_a_usable_answer_is_not_called_a_refusal(
    env: dict[str, str], slack: SlackServer, tmp_path: Path
) -> None:
    slack.http_errors["auth.test"] = 503
    run = await doctor(env, tmp_path)
    assert run.failed == [
        f"✗ Slack: no usable answer from {slack.api_url} (http_503) — run the doctor again; "
        "check the network, a proxy, or SLACK_API_URL"
    ]


async def test_an_ace_data_cloud_token_that_cannot_be_checked_now(
    env: dict[str, str], ace: AceDataCloud, tmp_path: Path
) -> None:
    ace.failing.add(PLATFORM_TOKEN)
    run = await doctor(env, tmp_path)
    [line] = run.failed
    assert line.startswith(f"✗ Ace Data Cloud: workspace {TEAM_ID}'s token could not be checked (")
    assert line.endswith("— run the doctor again; check ACEDATA_BASE_URL and the network")


async def test_oauth_mode_names_an_installation_without_a_scope_or_a_readable_token(
    env: dict[str, str], slack: SlackServer, db: Engine, tmp_path: Path
) -> None:
    slack.codes[ACME.team_id] = ACME
    install(db, env["ENCRYPTION_KEY"], ACME)
    install(db, Fernet.generate_key().decode(), BETA)
    slack.granted_scopes = "commands,chat:write"
    oauth = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}
    run = await doctor(env | oauth, tmp_path)
    assert run.failed == [
        "✗ Encryption key: 1 Slack bot token(s) cannot be decrypted with the current key — "
        "restore the old key (ENCRYPTION_KEY=new,old), or have those workspaces install the app "
        "again",
        "✗ Slack: 2 installation(s), 1 not working",
        "✗ Slack: the installation in Beta (TBBBB) does not work (its token cannot be decrypted) "
        "— reinstall the app in that workspace",
        "✗ Slack scopes: 1 installation(s) lack users:read, links:read, links:write "
        "(Acme (TAAAA)) — add them under OAuth "
        "& Permissions (or update the app from manifest.yml), then reinstall the app",
    ]


async def test_an_operator_token_ace_data_cloud_rejects(
    env: dict[str, str], db: Engine, tmp_path: Path
) -> None:
    with db.begin() as connection:
        connection.execute(text("UPDATE workspaces SET acedata_token = NULL"))
    run = await doctor(env | {"ACEDATA_PLATFORM_TOKEN": OTHER_TOKEN}, tmp_path)
    assert run.failed == [
        "✗ Ace Data Cloud: ACEDATA_PLATFORM_TOKEN was rejected — set ACEDATA_PLATFORM_TOKEN to a "
        "valid one"
    ]
