"""A small local Slack Web API (and response_url) server, as bolt-python's own tests use.

It records every call so tests can assert what the bot said, where, and to whom.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .loopback import serve_on_loopback

BOT_USER_ID = "UBOT"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    data: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Workspace:
    """A workspace that can install the app through the stand-in's `oauth.v2.access`."""

    team_id: str
    name: str
    bot_token: str
    installer: str
    enterprise_id: str | None = None
    # Token rotation: the refresh token, and the first token's lifetime in seconds.
    refresh_token: str | None = None
    expires_in: int | None = None
    refreshed: int = 0
    # Slack's real rule: each refresh hands out a new refresh token and the old one dies.
    single_use_refresh: bool = False
    # Installed org-wide by an Enterprise Grid org (enterprise_id): no one workspace.
    org_wide: bool = False

    def access_answer(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": "A0001",
            "access_token": self.bot_token,
            "token_type": "bot",
            "scope": "commands,chat:write,users:read,links:read,links:write",
            "bot_user_id": f"UBOT{self.team_id}",
            "team": None if self.org_wide else {"id": self.team_id, "name": self.name},
            "enterprise": {"id": self.enterprise_id, "name": "Org"} if self.enterprise_id else None,
            "is_enterprise_install": self.org_wide,
            "authed_user": {"id": self.installer},
        }
        if self.refresh_token is not None:
            answer |= {"refresh_token": self.refresh_token, "expires_in": self.expires_in}
        return answer


@dataclass
class SlackServer:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Per response_url key, HTTP statuses to answer with before accepting (e.g. [500] or [404]).
    response_statuses: dict[str, list[int]] = field(default_factory=dict)
    refused_responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # Web API methods whose connection is dropped without an answer.
    drops: set[str] = field(default_factory=set)
    # Web API methods answered with HTTP 429 (and Retry-After: 0) this many times first.
    rate_limits: dict[str, int] = field(default_factory=dict)
    # The client port of every request: one shared session reuses its connections.
    client_ports: list[int] = field(default_factory=list)
    # The WebSocket URL `apps.connections.open` hands out (a Socket Mode stand-in), if any.
    socket_url: str | None = None
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    port: int = 0
    # Web API methods answered with this HTTP status and a plain-text (not JSON) body.
    http_errors: dict[str, int] = field(default_factory=dict)
    # chat.postMessage into these channels fails with the error given.
    channel_failures: dict[str, str] = field(default_factory=dict)
    # Replies in a thread answered with HTTP 503 this many times first.
    thread_failures: int = 0
    # OAuth: authorization codes Slack would hand out, each for a workspace installing the app.
    codes: dict[str, Workspace] = field(default_factory=dict)
    # The scopes granted, sent as Slack does in every Web API answer's `x-oauth-scopes` header
    # (None: no such header).
    granted_scopes: str | None = None
    # Tokens Slack no longer accepts: auth.test answers `token_revoked` for them.
    revoked: set[str] = field(default_factory=set)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{key}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for_response(self, key: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The first message posted to the response_url named `key`."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: bool(self.responses.get(key))), timeout
            )
        return self.responses[key][0]

    async def wait_for_response_count(self, key: str, count: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.responses.get(key, [])) >= count), timeout
            )

    async def wait_for_call(self, method: str, *, count: int = 1, timeout: float = 10.0) -> Call:
        """The `count`-th call to `method`, once it has arrived."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.calls_to(method)) >= count), timeout
            )
        return self.calls_to(method)[count - 1]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        data: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                data.update(await request.json())
            else:
                data.update(await request.post())
        self.calls.append(Call(method, data, dict(request.headers)))
        self._note_client(request)
        await self._notify()
        if method in self.drops and request.transport is not None:
            request.transport.close()
            raise ConnectionResetError("dropped by the test server")
        if self.rate_limits.get(method, 0) > 0:
            self.rate_limits[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"}
            )
        if method in self.failures:
            return web.json_response({"ok": False, "error": self.failures[method]})
        if method in self.http_errors:
            return web.Response(status=self.http_errors[method], text="upstream connect error")
        if method == "chat.postMessage" and data.get("thread_ts") and self.thread_failures > 0:
            self.thread_failures -= 1
            return web.Response(status=503, text="upstream connect error")
        if method == "chat.postMessage" and str(data.get("channel")) in self.channel_failures:
            error = self.channel_failures[str(data["channel"])]
            return web.json_response({"ok": False, "error": error})
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ") or str(data.get("token", "")) or None
        if method == "auth.test" and token in self.revoked:
            return web.json_response({"ok": False, "error": "token_revoked"})
        headers = {"x-oauth-scopes": self.granted_scopes} if self.granted_scopes is not None else {}
        return web.json_response(self._answer(method, data, token), headers=headers)

    def workspace_of(self, token: str | None) -> Workspace | None:
        for workspace in self.codes.values():
            if token and token.startswith(workspace.bot_token):
                return workspace
        return None

    def _answer(self, method: str, data: dict[str, Any], token: str | None) -> dict[str, Any]:
        installed = self.workspace_of(token)
        match method:
            case "oauth.v2.access":
                return self._oauth_access(data)
            case "auth.test" if installed is not None:
                return {
                    "ok": True,
                    "team_id": installed.team_id,
                    "user_id": f"UBOT{installed.team_id}",
                    "bot_id": f"B{installed.team_id}",
                    "team": installed.name,
                    "url": f"https://{installed.name.lower()}.slack.com/",
                }
            case "auth.test":
                return {
                    "ok": True,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "bot_id": "B0001",
                    "team": "Acme",
                    "url": "https://acme.slack.com/",
                }
            case "users.info":
                user = self.users.get(str(data.get("user")))
                if user is None:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "user": {"id": data["user"], **user}}
            case "views.open":
                view = data.get("view")
                view = json.loads(view) if isinstance(view, str) else view
                return {"ok": True, "view": {"id": "V0001", **(view or {})}}
            case "apps.connections.open" if self.socket_url is not None:
                return {"ok": True, "url": self.socket_url}
            case "chat.postMessage" | "chat.update" | "chat.postEphemeral":
                return {"ok": True, "channel": data.get("channel"), "ts": "1700000000.000200"}
        return {"ok": True}

    def _oauth_access(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("grant_type") == "refresh_token":
            for workspace in self.codes.values():
                if workspace.refresh_token and workspace.refresh_token == data.get("refresh_token"):
                    workspace.refreshed += 1
                    if workspace.single_use_refresh:
                        base = workspace.refresh_token.split("~")[0]
                        workspace.refresh_token = f"{base}~{workspace.refreshed}"
                    return {
                        "ok": True,
                        "token_type": "bot",
                        "access_token": f"{workspace.bot_token}-r{workspace.refreshed}",
                        "refresh_token": workspace.refresh_token,
                        "expires_in": workspace.expires_in,
                    }
            return {"ok": False, "error": "invalid_refresh_token"}
        workspace = self.codes.get(str(data.get("code")))
        if workspace is None:
            return {"ok": False, "error": "invalid_code"}
        return workspace.access_answer()

    async def _response(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        self._note_client(request)
        message = await request.json()
        statuses = self.response_statuses.get(key)
        if statuses:
            status = statuses.pop(0)
            self.refused_responses.setdefault(key, []).append(message)
            await self._notify()
            return web.Response(status=status, text="no_service")
        self.responses.setdefault(key, []).append(message)
        await self._notify()
        return web.Response(text="ok")

    def _note_client(self, request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.client_ports.append(peer[1])
