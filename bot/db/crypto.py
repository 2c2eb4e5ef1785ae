"""Fernet encryption for secrets at rest, and the column type that applies it.

Keys come from `ENCRYPTION_KEY` (comma-separated, newest first: MultiFernet encrypts with the
first and decrypts with any, so a key can be rotated in without rewriting rows). For SQLite
with no key set, one is generated into a file beside the database.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Dialect, Text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)


class EncryptionKeyError(Exception):
    """The encryption keys are missing, malformed, or do not open a stored secret."""


def parse_keys(raw: str) -> MultiFernet:
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise EncryptionKeyError("ENCRYPTION_KEY is empty")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise EncryptionKeyError(
            "ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated"
        ) from None


def key_file_for(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + ".key")


def load_or_create_key_file(path: Path) -> str:
    """Read the key in `path`, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    logger.warning(
        "No ENCRYPTION_KEY set: generated a new encryption key in %s (mode 0600). Back it up; "
        "without it the stored tokens cannot be read.",
        path,
    )
    return key


class Keyring:
    """The keys of one runtime: encrypts with the newest, decrypts with any."""

    def __init__(self, fernet: MultiFernet) -> None:
        self._fernet = fernet

    @classmethod
    def open(cls, keys: str | None, beside: Path | None) -> Keyring:
        """`keys` (ENCRYPTION_KEY's value), or without them a key file kept beside `beside`,
        the file of a file-backed SQLite database."""
        if keys is not None:
            return cls(parse_keys(keys))
        path = beside
        if path is None:
            raise EncryptionKeyError(
                "ENCRYPTION_KEY is required for this DATABASE_URL (a key file is generated only "
                "for a file-backed SQLite database)"
            )
        key_file = key_file_for(path)
        try:
            return cls(parse_keys(load_or_create_key_file(key_file)))
        except OSError as exc:
            raise EncryptionKeyError(
                f"cannot read or create the key file {key_file} ({exc.strerror}); set "
                "ENCRYPTION_KEY, or make the database's directory writable"
            ) from None
        except EncryptionKeyError:
            raise EncryptionKeyError(
                f"the key file {key_file} does not hold a Fernet key: restore it from a backup, or "
                "remove it to start with a new key (stored tokens then read as not set)"
            ) from None

    def rotated(self, ciphertext: str) -> str | None:
        """`ciphertext` under the newest key: the same text when it already is, None when no
        current key opens it."""
        newest = self._fernet._fernets[0]  # MultiFernet encrypts with its first key
        try:
            newest.decrypt(ciphertext.encode())
            return ciphertext
        except InvalidToken:
            pass
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            return None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str | None:
        """The plaintext, or None when no current key opens it (a lost or changed key)."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return None


# Each engine's dialect carries its runtime's keyring, so two runtimes in one process (tests, a
# web and a worker) never share or overwrite each other's keys.
_KEYRING_ATTRIBUTE = "quota_bot_keyring"


def attach_keyring(engine: AsyncEngine, keyring: Keyring) -> None:
    setattr(engine.sync_engine.dialect, _KEYRING_ATTRIBUTE, keyring)


def _keyring(dialect: Dialect) -> Keyring:
    keyring = getattr(dialect, _KEYRING_ATTRIBUTE, None)
    if keyring is None:
        raise EncryptionKeyError("No encryption key is attached to this database engine")
    return keyring


class EncryptedString(TypeDecorator[str]):
    """A string stored as a Fernet token; plaintext never reaches the database. A value no
    current key opens reads as None: callers treat it as not set (and can tell it apart by the
    column not being NULL in SQL)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _keyring(dialect).encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _keyring(dialect).decrypt(str(value))
