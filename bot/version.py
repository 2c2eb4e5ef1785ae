"""Which Quota Bot this is: `quota-bot --version`, `/healthz`, the admins' App Home, the doctor."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "quota-bot"
UNKNOWN = "unknown"


@cache
def version() -> str:
    """The running code's version: from the checkout it runs in (its pyproject.toml, which an
    editable install's metadata may lag behind), else the installed distribution's metadata,
    else "unknown"."""
    source_tree = Path(__file__).resolve().parent.parent
    return source_version(source_tree) or installed_version(DISTRIBUTION) or UNKNOWN


def source_version(root: Path) -> str | None:
    """The version in `root/pyproject.toml` when that file is Quota Bot's own, else None."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None
    if not isinstance(project, dict) or project.get("name") != DISTRIBUTION:
        return None
    found = project.get("version")
    return found if isinstance(found, str) else None


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
