"""`quota-bot doctor`: what an operator runs after deploying. Each check prints one line, ✓ or
✗ with the fix; the exit status is 1 when any failed. Read-only: it creates no database, key
file or row, renews no token, and prints no secret. Each check ends within a few seconds, and
one that fails or cannot finish never stops the others (those that need the database say they
were skipped when it cannot be used).

The sentences here are for the operator at a terminal, not for Slack users.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import httpx
from cryptography.fernet import Fernet
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from .acedata import AceDataClient, AceDataError, InvalidToken
from .config import CONFIG_HELP, ConfigError, Settings, load_settings
from .db.crypto import EncryptionKeyError, Keyring, attach_keyring, key_file_for, parse_keys
from .db.database import Database
from .db.engine import create_engine
from .db.migrate import current_revisions, explain_database_error, head_revisions, known_revisions
from .db.models import utcnow
from .services.checkup import InstalledBot, StoredToken, installed_bots, stored_tokens
from .services.heartbeats import MISSED_ROUNDS, scheduler_status
from .services.workspaces import count_unreadable_secrets
from .slack.api_errors import slack_error
from .slack.install.oauth import BOT_SCOPES, INSTALL_PATH
from .version import version

# The longest one check may take, and one call to Slack, Ace Data Cloud or the public URL.
CHECK_SECONDS = 10.0
CALL_SECONDS = 5.0
# The checks of every installation or workspace token, a few at once.
MANY_SECONDS = 30.0
# Installations or tokens checked at once.
CONCURRENCY = 8
# ✓ lines listed one by one before the rest are counted in one line (✗ lines are all listed).
LISTED = 20
PASSED, FAILED, SKIPPED = "✓", "✗", "-"
SCOPES_FIX = (
    "add them under OAuth & Permissions (or update the app from manifest.yml), then reinstall "
    "the app"
)
SET_TOKEN_AGAIN = "a bot admin of that workspace sets it again with /quota token"
# Slack's answers that mean the token itself is dead (else: Slack could not say now).
DEAD_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


@dataclass(frozen=True)
class Line:
    mark: str
    text: str
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.mark} {self.text}" + (f" — {self.fix}" if self.fix else "")


def passed(text: str) -> Line:
    return Line(PASSED, text)


def failed(text: str, fix: str | None = None) -> Line:
    return Line(FAILED, text, fix)


@dataclass
class Report:
    """The lines said so far, each printed as soon as it is known."""

    say: Callable[[str], None]
    lines: list[Line] = field(default_factory=list)

    def add(self, lines: Iterable[Line]) -> None:
        for line in lines:
            self.lines.append(line)
            self.say(str(line))

    @property
    def failures(self) -> int:
        return sum(line.mark == FAILED for line in self.lines)

    @property
    def checks(self) -> int:
        return sum(line.mark == PASSED for line in self.lines)


def run_doctor(say: Callable[[str], None] | None = None) -> int:
    """Check the deployment the environment (and `.env`) describes; 1 if anything failed."""
    report = Report(say or (lambda text: print(text, flush=True)))
    report.say(f"Quota Bot {version()} doctor")
    asyncio.run(_run(report))
    if report.failures:
        report.say(f"{report.failures} problem(s) found.")
        return 1
    report.say(f"All {report.checks} checks passed.")
    return 0


async def _run(report: Report) -> None:
    settings = check_settings(report)
    if settings is None:
        report.add([Line(SKIPPED, "The other checks run once the settings are valid.")])
        return
    keyring, key_file = _keyring(settings)
    database = await _open_database(report, settings, keyring)
    try:
        if database is None:
            needed = ", Slack installations" if settings.oauth_enabled else ""
            report.add(
                [
                    Line(
                        SKIPPED,
                        f"Not checked without the database: stored secrets{needed}, Ace "
                        "Data Cloud tokens, the scheduler.",
                    )
                ]
            )
        else:
            report.add(await bounded("Encryption key", check_secrets(database, keyring, key_file)))
        if not settings.oauth_enabled:
            report.add(await bounded("Slack", check_bot_token(settings)))
        elif database is not None:
            installations = check_installations(settings, database)
            report.add(await bounded("Slack", installations, MANY_SECONDS))
        if database is not None:
            tokens = check_acedata(settings, database)
            report.add(await bounded("Ace Data Cloud", tokens, MANY_SECONDS))
            report.add(await bounded("Scheduler", check_scheduler(settings, database)))
        report.add(await bounded("Public URL", check_public_url(settings)))
    finally:
        if database is not None:
            await database.engine.dispose()


async def bounded(
    what: str, check: Awaitable[list[Line]], seconds: float = CHECK_SECONDS
) -> list[Line]:
    """`check`'s lines, or one ✗ line when it did not finish in time or failed unexpectedly."""
    try:
        return await asyncio.wait_for(check, seconds)
    except TimeoutError:
        return [failed(f"{what}: no answer within {seconds:g} s", "run the doctor again")]
    except Exception as exc:  # one check's failure never stops the others
        return [failed(f"{what}: the check itself failed ({type(exc).__name__})")]


# Settings


def check_settings(report: Report) -> Settings | None:
    """The settings, read as every command reads them (config's own messages, one line per
    problem); None when a value is invalid, so nothing else can be checked."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        report.add(failed(f"Settings: {problem}") for problem in exc.problems)
        report.say(f"  {CONFIG_HELP}")
        return None
    problems = settings.needs_slack_credentials() + settings.needs_encryption_key()
    if settings.slack_app_token is None:
        problems += [
            problem + " (or SLACK_APP_TOKEN, for `quota-bot socket`)"
            for problem in settings.missing("slack_signing_secret")
        ]
    if problems:
        report.add(failed(f"Settings: {problem}") for problem in problems)
        report.say(f"  {CONFIG_HELP}")
        return settings
    mode = (
        "OAuth mode (any number of workspaces)"
        if settings.oauth_enabled
        else "single-workspace mode"
    )
    report.add([passed(f"Settings: valid, {mode}")])
    return settings


def _where(settings: Settings) -> str:
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        return f"SQLite {url.database or '(in memory)'}"
    return f"PostgreSQL {url.database or ''} on {url.host or 'localhost'}:{url.port or 5432}"


# Database and keys


def _keyring(settings: Settings) -> tuple[Keyring | EncryptionKeyError | None, str | None]:
    """The keys secrets are read with: ENCRYPTION_KEY's, or the key file's when it exists (the
    doctor never creates one); an error for a bad key file; None for no key. With the key
    file's name when there is one."""
    key_file = key_file_for(settings.sqlite_path) if settings.sqlite_path else None
    if settings.encryption_key is None and (key_file is None or not key_file.exists()):
        return None, str(key_file) if key_file else None
    try:
        return settings.keyring(), str(key_file) if key_file else None
    except EncryptionKeyError as exc:
        return exc, str(key_file) if key_file else None


async def _open_database(
    report: Report, settings: Settings, keyring: Keyring | EncryptionKeyError | None
) -> Database | None:
    """The database, when it is reachable and migrated to this version's latest revision."""
    path = settings.sqlite_path
    if path is not None and not path.exists():
        report.add(
            [
                failed(
                    f"Database: the SQLite file {path} does not exist",
                    "run `quota-bot migrate` (or start `quota-bot serve`, which creates it)",
                )
            ]
        )
        return None
    engine = create_engine(settings.database_url, timeout=settings.database_timeout)
    # Without a usable key, rows read with a throwaway one: what is stored reads as unreadable.
    usable = keyring if isinstance(keyring, Keyring) else None
    attach_keyring(engine, usable or Keyring(parse_keys(Fernet.generate_key().decode())))
    lines = await bounded("Database", _check_schema(settings, engine))
    report.add(lines)
    if lines[0].mark != PASSED:
        await engine.dispose()
        return None
    return Database(engine, timeout=settings.database_timeout)


async def _check_schema(settings: Settings, engine: AsyncEngine) -> list[Line]:
    try:
        current = await asyncio.wait_for(current_revisions(engine), CALL_SECONDS)
    except (SQLAlchemyError, OSError) as exc:
        return [
            failed(
                f"Database: {explain_database_error(exc, settings.database_url)}",
                "check DATABASE_URL and that the database server runs",
            )
        ]
    except TimeoutError:
        return [
            failed(
                f"Database: {_where(settings)} did not answer in {CALL_SECONDS:g} s",
                "check DATABASE_URL, the network and the database server",
            )
        ]
    head, where = head_revisions(), _where(settings)
    shown = ", ".join(sorted(current))
    if current == head:
        return [passed(f"Database: {where} reachable, schema up to date (revision {shown})")]
    if not current:
        return [failed(f"Database: {where} reachable but not migrated", "run `quota-bot migrate`")]
    if current - known_revisions():
        return [
            failed(
                f"Database: the schema is at revision {shown}, which Quota Bot {version()} does "
                "not know (a newer version migrated it)",
                "run that newer version, or restore the backup taken before upgrading",
            )
        ]
    return [
        failed(
            f"Database: the schema is at revision {shown}, the latest is {', '.join(sorted(head))}",
            "back up the database, then run `quota-bot migrate`",
        )
    ]


async def check_secrets(
    db: Database, keyring: Keyring | EncryptionKeyError | None, key_file: str | None
) -> list[Line]:
    unreadable = await count_unreadable_secrets(db)
    counted = ", ".join(f"{count} {kind}(s)" for kind, count in unreadable.items())
    if isinstance(keyring, EncryptionKeyError):
        return [failed(f"Encryption key: {keyring}")]
    if keyring is None:
        if not unreadable:
            return [
                passed(
                    f"Encryption key: none yet and nothing stored encrypted (`serve` "
                    f"creates {key_file or 'the key'} on first start)"
                )
            ]
        restore = f", or restore the key file {key_file} from a backup" if key_file else ""
        return [
            failed(
                f"Encryption key: no ENCRYPTION_KEY and no key file, but {counted} are stored",
                f"set ENCRYPTION_KEY to the key they were stored with{restore}",
            )
        ]
    if not unreadable:
        return [passed("Encryption key: opens every stored secret")]
    fixes = ["restore the old key (ENCRYPTION_KEY=new,old)"]
    if "Ace Data Cloud token" in unreadable:
        fixes.append("or have those workspaces set their token again with /quota token")
    if unreadable.keys() - {"Ace Data Cloud token"}:
        fixes.append("or have those workspaces install the app again")
    return [
        failed(
            f"Encryption key: {counted} cannot be decrypted with the current key", ", ".join(fixes)
        )
    ]


# Slack


@dataclass(frozen=True)
class Answer:
    """auth.test's answer for one token: who it is and the scopes granted, or why not."""

    data: dict[str, Any] | None = None
    scopes: frozenset[str] | None = None
    error: str | None = None
    unreachable: str | None = None


async def auth_test(http: aiohttp.ClientSession, settings: Settings, token: str) -> Answer:
    client = AsyncWebClient(
        token=token,
        base_url=str(settings.slack_api_url),
        session=http,
        timeout=int(CALL_SECONDS),
        retry_handlers=[],
    )
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = slack_error(exc)
        # Only a dead token is the token's fault; a 503 or a rate limit says nothing of it.
        return Answer(error=error) if error in DEAD_TOKEN else Answer(unreachable=error)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Answer(unreachable=type(exc).__name__)
    header = response.headers.get("x-oauth-scopes") if response.headers else None
    scopes = frozenset(s.strip() for s in header.split(",") if s.strip()) if header else None
    return Answer(
        data=dict(response.data) if isinstance(response.data, dict) else {}, scopes=scopes
    )


def _unreachable(settings: Settings, reason: str, what: str = "") -> Line:
    return failed(
        f"Slack: {what}no usable answer from {settings.slack_api_url} ({reason})",
        "run the doctor again; check the network, a proxy, or SLACK_API_URL",
    )


def _scopes_line(scopes: frozenset[str] | None, where: str) -> Line:
    if scopes is None:
        return failed(
            f"Slack scopes: Slack did not say which scopes {where} has",
            f"check the app's OAuth & Permissions page lists {', '.join(BOT_SCOPES)}",
        )
    missing = [scope for scope in BOT_SCOPES if scope not in scopes]
    if missing:
        return failed(f"Slack scopes: {where} lacks {', '.join(missing)}", SCOPES_FIX)
    return passed(f"Slack scopes: {where} has {', '.join(BOT_SCOPES)}")


async def check_bot_token(settings: Settings) -> list[Line]:
    """Single-workspace mode: SLACK_BOT_TOKEN, whose workspace and bot user, and its scopes."""
    if settings.slack_bot_token is None:
        return [Line(SKIPPED, "Slack: not checked without SLACK_BOT_TOKEN.")]
    async with aiohttp.ClientSession() as http:
        answer = await auth_test(http, settings, settings.slack_bot_token.get_secret_value())
    if answer.unreachable:
        return [_unreachable(settings, answer.unreachable)]
    if answer.error or answer.data is None:
        return [
            failed(
                f"Slack: SLACK_BOT_TOKEN was refused ({answer.error})",
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page, "
                "or reinstall the app",
            )
        ]
    data = answer.data
    bot = str(data.get("user_id") or "?")
    if data.get("user"):
        bot = f"{data['user']} ({bot})"
    who = f"bot {bot} in workspace {data.get('team') or '?'} ({data.get('team_id') or '?'})"
    return [passed(f"Slack: SLACK_BOT_TOKEN works — {who}"), _scopes_line(answer.scopes, "the bot")]


async def check_installations(settings: Settings, db: Database) -> list[Line]:
    """OAuth mode: how many installations, whether each bot token still works, and scopes."""
    bots = await installed_bots(db, client_id=str(settings.slack_client_id))
    if not bots:
        return [
            failed(
                "Slack: no workspace has installed the app yet",
                f"open {_public(settings)}{INSTALL_PATH} to install it",
            )
        ]
    answers = await _ask_each(settings, bots)
    lines = [
        failed(
            f"Slack: the installation in {bot.name} does not work ({answer.error})",
            "reinstall the app in that workspace",
        )
        for bot, answer in answers
        if answer.error is not None
    ]
    dead = len(lines)
    unsure = [answer.unreachable for _, answer in answers if answer.unreachable]
    if unsure:
        lines.append(_unreachable(settings, unsure[0], f"{len(unsure)} not checked, "))
    count = f"Slack: {len(bots)} installation(s)"
    if not lines:
        return [passed(f"{count}, every bot token works"), _installation_scopes(answers)]
    summary = f"{count}, {dead} not working" + (f", {len(unsure)} not checked" if unsure else "")
    return [failed(summary), *lines, _installation_scopes(answers)]


async def _ask_each(
    settings: Settings, bots: list[InstalledBot]
) -> list[tuple[InstalledBot, Answer]]:
    """auth.test for each installation, a few at once. An expired token that the bot renews
    on next use is not asked about: renewing it here would be a change."""
    now, limit = utcnow(), asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as http:

        async def one(bot: InstalledBot) -> Answer | None:
            if bot.token is None:
                return Answer(error="its token cannot be decrypted")
            if bot.expired(now) and bot.renewable:
                return None
            async with limit:
                return await auth_test(http, settings, bot.token)

        answers = await asyncio.gather(*(one(bot) for bot in bots))
    return [(bot, a) for bot, a in zip(bots, answers, strict=True) if a is not None]


def _installation_scopes(answers: list[tuple[InstalledBot, Answer]]) -> Line:
    lacking = [
        (bot.name, answer.scopes)
        for bot, answer in answers
        if answer.data is not None
        and (answer.scopes is None or not set(BOT_SCOPES) <= answer.scopes)
    ]
    if not lacking:
        return passed(f"Slack scopes: every working installation has {', '.join(BOT_SCOPES)}")
    names = ", ".join(name for name, _ in lacking[:LISTED])
    if len(lacking) > LISTED:
        names += f" and {len(lacking) - LISTED} more"
    missing = [
        scope
        for scope in BOT_SCOPES
        if any(granted is not None and scope not in granted for _, granted in lacking)
    ]
    if not missing:
        return _scopes_line(None, f"{len(lacking)} installation(s) ({names})")
    return failed(
        f"Slack scopes: {len(lacking)} installation(s) lack {', '.join(missing)} ({names})",
        SCOPES_FIX,
    )


def _public(settings: Settings) -> str:
    return str(settings.public_url).rstrip("/") if settings.public_url else "https://<your host>"


# Ace Data Cloud


async def check_acedata(settings: Settings, db: Database) -> list[Line]:
    """Each stored token (and ACEDATA_PLATFORM_TOKEN where it is used): valid, and whose."""
    tokens: list[tuple[str, StoredToken]] = [
        (f"workspace {stored.team_id}'s token", stored) for stored in await stored_tokens(db)
    ]
    operator = settings.acedata_platform_token
    if operator is not None and not settings.oauth_enabled:
        tokens.append(
            ("ACEDATA_PLATFORM_TOKEN", StoredToken("", operator.get_secret_value(), None))
        )
    if not tokens:
        fix = "a bot admin sets one with /quota token" + (
            "" if settings.oauth_enabled else " (or set ACEDATA_PLATFORM_TOKEN)"
        )
        return [failed("Ace Data Cloud: no platform token is set", fix)]
    limit = asyncio.Semaphore(CONCURRENCY)
    async with AceDataClient(
        str(settings.acedata_base_url), backoff_base=settings.retry_backoff_seconds
    ) as client:

        async def one(named: tuple[str, StoredToken]) -> Line:
            async with limit:
                return await _token_line(client, *named)

        lines = await asyncio.gather(*(one(named) for named in tokens))
    return _bounded_list(list(lines), "Ace Data Cloud")


async def _token_line(client: AceDataClient, name: str, stored: StoredToken) -> Line:
    fix = "set ACEDATA_PLATFORM_TOKEN to a valid one" if not stored.team_id else SET_TOKEN_AGAIN
    if stored.token is None:
        return failed(f"Ace Data Cloud: {name} cannot be decrypted", fix)
    try:
        owner = await client.get_token_owner(stored.token, deadline=CALL_SECONDS)
    except InvalidToken:
        return failed(f"Ace Data Cloud: {name} was rejected", fix)
    except AceDataError as exc:
        return failed(
            f"Ace Data Cloud: {name} could not be checked ({exc.message})",
            "run the doctor again; check ACEDATA_BASE_URL and the network",
        )
    return passed(f"Ace Data Cloud: {name} is valid, account {owner.display_name}")


def _bounded_list(lines: list[Line], what: str) -> list[Line]:
    """Every ✗ line, and the ✓ lines up to LISTED, the rest counted in one."""
    good = [line for line in lines if line.mark == PASSED]
    shown = [line for line in lines if line.mark != PASSED or line in good[:LISTED]]
    if len(good) > LISTED:
        shown.append(passed(f"{what}: and {len(good) - LISTED} more valid"))
    return shown


# The scheduler and the public URL


async def check_scheduler(settings: Settings, db: Database) -> list[Line]:
    now = utcnow()
    status = await scheduler_status(db, now=now, poll_seconds=settings.worker_poll_seconds)
    last = status.last_round_at
    recent = last is not None and (now - last).total_seconds() <= (
        MISSED_ROUNDS * settings.worker_poll_seconds
    )
    if recent and last is not None:
        return [passed(f"Scheduler: last round {_age(now, last)} ago")]
    said = "no round ever recorded" if last is None else f"last round {_age(now, last)} ago"
    if status.silent:
        said += ", so digests and alerts are not being sent"
    fix = (
        "start `quota-bot serve`, which runs the scheduler here (SCHEDULER_IN_WEB)"
        if settings.runs_scheduler_in_web
        else "start `quota-bot worker`, or set SCHEDULER_IN_WEB=on so `quota-bot serve` runs it"
    )
    return [failed(f"Scheduler: {said}", fix)]


def _age(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


async def check_public_url(settings: Settings) -> list[Line]:
    if settings.public_url is None:
        return [Line(SKIPPED, "Public URL: PUBLIC_URL is not set, so /healthz is not checked.")]
    url = f"{str(settings.public_url).rstrip('/')}/healthz"
    fix = "check that `quota-bot serve` runs there and PUBLIC_URL is the address Slack uses"
    try:
        async with httpx.AsyncClient(timeout=CALL_SECONDS, follow_redirects=True) as http:
            response = await http.get(url, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        return [failed(f"Public URL: {url} did not answer ({type(exc).__name__})", fix)]
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        snippet = " ".join(response.text.split())[:80]
        return [
            failed(
                f"Public URL: {url} answered {response.status_code} but not Quota Bot's "
                f"JSON ({snippet!r})",
                fix,
            )
        ]
    if response.status_code != 200:
        said = str(answer.get("status", ""))[:80]
        return [
            failed(
                f"Public URL: {url} answered {response.status_code} ({said})",
                "the bot there is up but unhealthy: check its log and DATABASE_URL",
            )
        ]
    return [passed(f"Public URL: {url} answered 200, Quota Bot {answer.get('version', '?')}")]
