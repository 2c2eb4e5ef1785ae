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


class _Keyring:
    """The process's keys, set once at start-up before any encrypted column is touched."""

    fernet: MultiFernet | None = None


keyring = _Keyring()


def set_encryption_keys(raw: str) -> None:
    keyring.fernet = parse_keys(raw)


def _fernet() -> MultiFernet:
    if keyring.fernet is None:
        raise EncryptionKeyError("No encryption key configured")
    return keyring.fernet


class EncryptedString(TypeDecorator[str]):
    """A string stored as a Fernet token; plaintext never reaches the database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _fernet().encrypt(value.encode()).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return _fernet().decrypt(str(value).encode()).decode()
        except InvalidToken:
            raise EncryptionKeyError(
                "A stored secret cannot be decrypted with ENCRYPTION_KEY (was the key changed "
                "without keeping the old one after it?)"
            ) from None
