"""`quota-bot console`: the real bot at a local prompt, scripted through standard input, against
an Ace Data Cloud stand-in on a loopback port; no Slack setting at all."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.client import (
    APP_ID,
    GLOBAL_APP_ID,
    PLATFORM_TOKEN,
    TOKEN_OWNER,
    application,
    cli_environment,
)
from tests.support.loopback import serve_on_loopback


class AceDataCloud:
    """Ace Data Cloud as the console's bot reaches it: the token owner, one application (whose
    balance changes between answers, to see Refresh work) and the global balance."""

    def __init__(self) -> None:
        self.reads = 0
        self.seen: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/platform-tokens/me/", self.me)
        app.router.add_get("/api/v1/applications/", self.applications)
        app.router.add_get("/api/v1/applications/{id}", self.application)
        return app

    async def me(self, request: web.Request) -> web.Response:
        self.seen.append(request.headers.get("authorization", ""))
        return web.json_response(TOKEN_OWNER)

    async def applications(self, request: web.Request) -> web.Response:
        items = [application(GLOBAL_APP_ID, remaining=1234.5, scope="Global")]
        return web.json_response({"count": 1, "items": items})

    async def application(self, request: web.Request) -> web.Response:
        if request.match_info["id"] != APP_ID:
            return web.json_response({"detail": "Not found."}, status=404)
        self.reads += 1  # each look sees 10 credits fewer: what Refresh shows
        answer: dict[str, Any] = application(APP_ID, remaining=500 - 10 * self.reads)
        return web.json_response(answer)


@pytest.fixture
async def acedata() -> AsyncIterator[tuple[AceDataCloud, str]]:
    cloud = AceDataCloud()
    runner, port = await serve_on_loopback(cloud.app())
    try:
        yield cloud, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def console(
    script: str, base_url: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `quota-bot console` with `script` as its standard input: exit status, output, log."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "console",
        cwd=cwd,
        env=cli_environment({"ACEDATA_BASE_URL": base_url, **(env or {})}),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(script.encode()), 50)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def remaining(text: str) -> float:
    match = re.search(r"Remaining\*? ([\d,.]+) Credits", text)
    assert match, text
    return float(match.group(1).replace(",", ""))


SET_UP = f"token\n{PLATFORM_TOKEN}\nlink prod {APP_ID}\n"


async def test_a_token_a_link_and_the_card_with_buttons_pressed_by_number(
    acedata: tuple[AceDataCloud, str], tmp_path: Path
) -> None:
    cloud, base_url = acedata
    status, out, err = await console(SET_UP + "prod\n2\n", base_url, tmp_path)
    assert status == 0, err
    assert "database sqlite:///quota-bot-console.db" in out.splitlines()[0]
    assert (tmp_path / "quota-bot-console.db").exists()
    assert cloud.seen == [f"Bearer {PLATFORM_TOKEN}"]  # the token reached Ace Data Cloud...
    assert PLATFORM_TOKEN[-12:] not in out + err  # ...and was never shown
    assert "Saved the token ending in `c56b`" in out
    assert "*prod* now points to Midjourney" in out
    card, refreshed = out.split("Midjourney · prod\n")[1:3]
    assert "[1] Enable global fallback  [2] Refresh  [3] Open in console https://" in card
    assert "*Global balance* 1,234.50 Credits" in card
    assert out.count("(updated) ") == 1  # Refresh replaced the card: a lower balance
    assert remaining(refreshed) < remaining(card)


async def test_the_enable_dialog_asks_for_how_long_and_an_empty_answer_closes_it(
    acedata: tuple[AceDataCloud, str], tmp_path: Path
) -> None:
    _, base_url = acedata
    status, out, err = await console(SET_UP + "prod\n1\n\n9\n", base_url, tmp_path)
    assert status == 0, err
    assert "  2. For 1 hour\n" in out and "  4. Until 09:00 tomorrow (Etc/UTC)\n" in out
    assert "Keep it on [1-4, empty to cancel]:" in out
    assert "(dialog closed)" in out
    assert "(updated)" not in out  # nothing was switched
    assert "There is no button 9 on the last answer." in out


async def test_bad_input_help_and_exit(acedata: tuple[AceDataCloud, str], tmp_path: Path) -> None:
    _, base_url = acedata
    script = f"link prod\nhelp\n{PLATFORM_TOKEN}\nexit\nhelp\n"
    status, out, err = await console(script, base_url, tmp_path)
    assert status == 0, err
    assert "(only you) :warning:" in out and "Usage: `/quota link" in out
    assert out.count("`/quota help` — this help") == 1  # `exit` left before the second help
    assert "That looks like an Ace Data Cloud token: it was not sent" in out
    assert PLATFORM_TOKEN[-12:] not in out + err


async def test_no_slack_setting_is_needed_and_database_url_is_said(
    acedata: tuple[AceDataCloud, str], tmp_path: Path
) -> None:
    _, base_url = acedata
    database = f"sqlite:///{tmp_path}/mine.db"
    process_env = {"DATABASE_URL": database}
    status, out, err = await console("", base_url, tmp_path, process_env)
    assert status == 0, err  # end of input leaves
    assert out.splitlines()[0].startswith(f"quota-bot console: database {database} (DATABASE_URL)")
    assert (tmp_path / "mine.db").exists()
