"""Settings read from the environment and an optional `.env` file (design §5)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .db.crypto import EncryptionKeyError, Keyring, parse_keys
from .logs import LogFormat
from .logs import configure as configure_log_format

DEFAULT_DATABASE_URL = "sqlite:///quota-bot.db"
CONFIG_HELP = "See .env.example for every setting and docs/operations.md for what each means."
# Values copied from .env.example without filling them in: as good as unset.
_PLACEHOLDERS = frozenset({"xoxb-", "xapp-", "changeme", "change-me"})


class ConfigError(Exception):
    """Settings are missing or malformed: one line per problem, naming the variable and never
    its value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")
    acedata_base_url: AnyHttpUrl = AnyHttpUrl("https://platform.acedata.cloud")
    # Where the console's pages are, for the link buttons on cards, digests and alerts.
    acedata_console_url: AnyHttpUrl = AnyHttpUrl("https://platform.acedata.cloud")
    acedata_platform_token: SecretStr | None = None
    encryption_key: SecretStr | None = None
    # Where Slack reaches this deployment (https://quota-bot.example.com): `quota-bot doctor`
    # checks that its /healthz answers.
    public_url: AnyHttpUrl | None = None
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    # How long one database operation may take before the bot says the database is unreachable.
    database_timeout: float = Field(default=5.0, gt=0, le=60)
    # The first wait before retrying Ace Data Cloud or Slack; it doubles on each retry.
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    # How long a second fallback switch waits for one in flight on the same application.
    fallback_lock_wait: float = Field(default=5.0, ge=0, le=60)
    # Socket Mode: the first wait before reconnecting after Slack could not be reached.
    socket_retry_seconds: float = Field(default=5.0, ge=0, le=300)
    # How often the scheduler looks for due digests, and how often a watched alias is read.
    worker_poll_seconds: float = Field(default=15.0, gt=0, le=3600)
    alert_check_seconds: float = Field(default=300.0, gt=0, le=86400)
    digest_lease_seconds: float = Field(default=300.0, ge=1, le=86400)
    # The window a spike alert measures spend over, against the usual for a window that long.
    spike_window_seconds: int = Field(default=3600, ge=300, le=86400)
    # How long a request to enable a global fallback waits for a second admin (two-person
    # approval) before it expires.
    approval_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    # Whether `serve` runs the scheduler too: auto = when the database is SQLite.
    scheduler_in_web: Literal["auto", "on", "off"] = "auto"
    # How many requests' work (after their ack) one process carries at once; past it, a command
    # is told "Quota Bot is busy" at once rather than queueing past Slack's patience. Work that
    # waits on Ace Data Cloud costs little, so a burst of 200 fits.
    max_in_flight: int = Field(default=250, ge=1, le=10000)
    # How many `serve` processes share the port (the platform convention's name).
    web_concurrency: int = Field(default=1, ge=1, le=64)
    # Prometheus metrics on a listener of their own (unset: none), never on PORT; METRICS_HOST
    # is loopback unless a scraper on another host (or container) must reach it.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # `json`: one JSON object per log line, with the Slack request's team, channel and id.
    log_format: Literal["text", "json"] = "text"

    @field_validator(
        "slack_signing_secret",
        "slack_bot_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_app_token",
        "acedata_platform_token",
        "encryption_key",
        mode="before",
    )
    @classmethod
    def _placeholder_is_unset(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            value = value.strip()
            if not value or value.lower() in _PLACEHOLDERS or value.startswith("<"):
                return None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        try:
            url = make_url(value)
            url.port  # noqa: B018 (parsing the port is what may fail)
        except (ArgumentError, ValueError):
            raise ValueError("is not a database URL such as postgresql://user@host/db") from None
        if url.get_backend_name() not in {"sqlite", "postgres", "postgresql"}:
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("public_url")
    @classmethod
    def _base_address(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and (value.query or value.fragment):
            raise ValueError(
                "must be the bot's address alone, such as https://quota-bot.example.com"
            )
        return value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_keys(value.get_secret_value())
            except EncryptionKeyError:
                raise ValueError(
                    "must be Fernet keys (32 url-safe base64 bytes), comma-separated, newest first"
                ) from None
        return value

    def keyring(self) -> Keyring:
        """The keys secrets are encrypted with: ENCRYPTION_KEY, or a key file beside a
        file-backed SQLite database (EncryptionKeyError when there can be neither)."""
        key = self.encryption_key.get_secret_value() if self.encryption_key else None
        return Keyring.open(key, self.sqlite_path)

    @property
    def console(self) -> str:
        """ACEDATA_CONSOLE_URL without a trailing slash."""
        return str(self.acedata_console_url).rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a file-backed SQLite URL, else None."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)

    @property
    def oauth_enabled(self) -> bool:
        """Any number of workspaces install the app through Slack's OAuth flow (else the one
        workspace of SLACK_BOT_TOKEN is served)."""
        return self.slack_client_id is not None and self.slack_client_secret is not None

    @property
    def runs_scheduler_in_web(self) -> bool:
        return self.scheduler_in_web == "on" or (self.scheduler_in_web == "auto" and self.is_sqlite)

    def missing(self, *names: str) -> list[str]:
        """A problem line for each of `names` that is not set."""
        return [
            f"{name.upper()} is required but not set"
            for name in names
            if getattr(self, name) is None
        ]

    def needs_slack_credentials(self) -> list[str]:
        """Single-workspace mode needs SLACK_BOT_TOKEN; OAuth mode needs the client ID and secret
        together."""
        if (self.slack_client_id is None) != (self.slack_client_secret is None):
            return [
                "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must be set together (OAuth mode), or "
                "neither (single-workspace mode with SLACK_BOT_TOKEN)"
            ]
        if not self.oauth_enabled and self.slack_bot_token is None:
            return [
                "SLACK_BOT_TOKEN is required but not set (or set SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET to install in any number of workspaces)"
            ]
        return []

    def needs_encryption_key(self) -> list[str]:
        if self.encryption_key is None and self.sqlite_path is None:
            return [
                "ENCRYPTION_KEY is required for this DATABASE_URL (a key file is generated only "
                "for a file-backed SQLite database)"
            ]
        return []


def load_settings(*, required: tuple[str, ...] = (), **overrides: object) -> Settings:
    """Read settings; every problem at once, one line each, as a ConfigError.

    `required` names the settings the command at hand cannot run without; `encryption_key` there
    means a key must be set unless a key file can be kept beside a SQLite database, and
    `slack_credentials` a bot token or OAuth's client ID and secret.
    """
    problems: list[str] = []
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        invalid: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "configuration"
            invalid.setdefault(name, str(error["msg"]).removeprefix("Value error, "))
        problems += [f"{name.upper()} is invalid: {reason}" for name, reason in invalid.items()]
        # Read the rest again with the invalid ones at their defaults, to report what is missing.
        defaults = {
            name: Settings.model_fields[name].default
            for name in invalid
            if name in Settings.model_fields
        }
        settings = Settings(**(overrides | defaults))  # type: ignore[arg-type]
        required = tuple(name for name in required if name not in invalid)
        if invalid.keys() & {"slack_bot_token", "slack_client_id", "slack_client_secret"}:
            required = tuple(name for name in required if name != "slack_credentials")
    special = {"encryption_key", "slack_credentials"}
    problems += settings.missing(*(name for name in required if name not in special))
    if "slack_credentials" in required:
        problems += settings.needs_slack_credentials()
    if "encryption_key" in required:
        problems += settings.needs_encryption_key()
    if problems:
        raise ConfigError(problems)
    return settings


# What each command cannot run without (see `load_settings`).
REQUIRED: dict[str, tuple[str, ...]] = {
    "serve": ("slack_signing_secret", "slack_credentials", "encryption_key"),
    "socket": ("slack_app_token", "slack_credentials", "encryption_key"),
    "worker": ("slack_credentials", "encryption_key"),
    "migrate": (),
    "rotate-key": ("encryption_key",),
    "purge-workspace": ("encryption_key",),
    "console": ("encryption_key",),
}


def configure_logging(log_format: LogFormat = "text") -> None:
    """One format for every process of the bot (WEB_CONCURRENCY's included): text, or JSON
    (LOG_FORMAT); called again once the settings are read, it switches to theirs."""
    configure_log_format(log_format)
    # One line per upstream call is noise at INFO; failures are logged by the bot with context.
    logging.getLogger("httpx").setLevel(logging.WARNING)
