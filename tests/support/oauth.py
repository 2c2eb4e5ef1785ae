"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .client import (
    BotClient,
)
from .slack_server import SlackServer, Workspace

CLIENT_ID = "1111.2222"


CLIENT_SECRET = "oauth-client-secret-9f8e7d"


INSTALLER_A = "UINSTA"


def workspace_a(**rotation: Any) -> Workspace:
    return Workspace("TAAAA", "Acme", "xoxb-acme-bot-token-0a1b", INSTALLER_A, **rotation)


@dataclass
class Page:
    status_code: int
    text: str
    headers: Mapping[str, str]


class Browser:
    """A browser on the bot's pages; cookies are passed by hand, as the tests say."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.close()

    async def get(
        self,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Page:
        async with self._http.get(
            self._base_url + path, params=params, headers=headers, allow_redirects=False
        ) as response:
            return Page(response.status, await response.text(), response.headers)


async def install(bot: BotClient, slack: SlackServer, workspace: Workspace, code: str) -> Page:
    """What a browser does: open the install page, go to Slack, come back with a code."""
    slack.codes[code] = workspace
    async with Browser(bot.base_url) as browser:
        page = await browser.get("/slack/install")
        assert page.status_code == 200
        cookie = page.headers["set-cookie"].split(";")[0]
        state = cookie.split("=", 1)[1]
        assert f"state={state}" in page.text
        return await browser.get(
            "/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers={"cookie": cookie},
        )
