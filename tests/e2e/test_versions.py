"""Which version is running, wherever an operator or admin looks: `quota-bot --version`, the
health check's JSON, and the footer of an admin's App Home (members do not see it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import aiohttp

from bot.version import source_version
from tests.support.client import ADMIN, MEMBER, BotClient, cli_environment
from tests.support.home import open_home, published

ROOT = Path(__file__).resolve().parents[2]
RELEASED = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def version_line(cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        cwd=cwd,
        env=cli_environment({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_version_is_the_released_one() -> None:
    assert RELEASED == "0.2.0"
    assert version_line(ROOT) == "quota-bot 0.2.0"


def test_a_source_tree_says_its_own_version_even_beside_an_installed_one(tmp_path: Path) -> None:
    """`python -m bot` in a checkout runs that checkout's code: its pyproject.toml says which,
    whatever version an (editable) install last recorded."""
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "quota-bot"\nversion = "9.9.9"\n')
    assert version_line(tmp_path) == "quota-bot 9.9.9"


def test_without_a_source_tree_the_installed_version_is_said(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    # Another project's pyproject.toml beside the package is not Quota Bot's.
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "1.0"\n')
    assert version_line(tmp_path) == f"quota-bot {metadata.version('quota-bot')}"


def test_a_pyproject_that_says_nothing_usable_is_not_a_version(tmp_path: Path) -> None:
    for content in ("not toml [", "[tool.x]\n", '[project]\nname = "quota-bot"\n', "project = 1"):
        (tmp_path / "pyproject.toml").write_text(content)
        assert source_version(tmp_path) is None
    assert source_version(tmp_path / "missing") is None


async def test_healthz_says_the_version(bot: BotClient) -> None:
    async with aiohttp.ClientSession() as http, http.get(bot.base_url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["version"] == "0.2.0"


async def test_an_admins_home_ends_with_the_version_and_a_members_does_not(
    linked: BotClient,
) -> None:
    await open_home(linked, ADMIN)
    _, view, _ = await published(linked)
    assert view["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Quota Bot 0.2.0"}],
    }

    await open_home(linked, MEMBER)
    user, view, text = await published(linked, count=2)
    assert user == MEMBER
    assert "0.2.0" not in text
