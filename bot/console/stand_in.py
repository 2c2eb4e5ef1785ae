"""A local Slack Web API for the console: answers what the bot calls and keeps, in order, what
it posted, so the console can print it."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

TEAM_ID = "TCONSOLE"
USER_ID = "UCONSOLE"
BOT_USER_ID = "UQUOTABOT"
CHANNEL_ID = "CCONSOLE"


@dataclass
class Posted:
    """Something the bot showed: a message (`kind`: message, ephemeral, thread, update,
    delete) or a dialog (`kind`: view)."""

    kind: str
    body: dict[str, Any]
    ts: str | None = None


def local_zone() -> str:
    """The machine's IANA time zone name (UTC when it cannot be told)."""
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return "UTC"
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def _body(data: dict[str, Any]) -> dict[str, Any]:
    """A call's fields with the JSON-encoded ones (blocks, view) decoded."""
    out = dict(data)
    for name in ("blocks", "view"):
        if isinstance(out.get(name), str):
            out[name] = json.loads(out[name])
    return out


@dataclass
class StandIn:
    port: int = 0
    posted: list[Posted] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def new_response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{next(self._keys)}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def take(self) -> list[Posted]:
        """What was posted since the last call."""
        taken, self.posted = self.posted, []
        return taken

    async def _api(self, request: web.Request) -> web.Response:
        data: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                data.update(await request.json())
            else:
                data.update(await request.post())
        return web.json_response(self._answer(request.match_info["method"], _body(data)))

    def _answer(self, method: str, data: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "bot_id": "BQB",
                    "team": "Console",
                    "url": "https://console.invalid/",
                }
            case "users.info":
                user = {
                    "id": data.get("user"),
                    "name": "you",
                    "is_admin": True,
                    "is_owner": True,
                    "tz": local_zone(),
                }
                return {"ok": True, "user": user}
            case "conversations.info":
                return {"ok": True, "channel": {"id": data.get("channel"), "name": "console"}}
            case "chat.postMessage":
                kind = "thread" if data.get("thread_ts") else "message"
                self.posted.append(Posted(kind, data, ts))
            case "chat.postEphemeral":
                self.posted.append(Posted("ephemeral", data, ts))
            case "chat.update":
                self.posted.append(Posted("update", data, str(data.get("ts"))))
                ts = str(data.get("ts"))
            case "chat.delete":
                self.posted.append(Posted("delete", data, str(data.get("ts"))))
            case "views.open" | "views.push" | "views.update":
                view = {"id": "VCONSOLE", **(data.get("view") or {})}
                self.posted.append(Posted("view", view))
                return {"ok": True, "view": view}
        return {"ok": True, "channel": data.get("channel"), "ts": ts}

    async def _response(self, request: web.Request) -> web.Response:
        message = await request.json()
        if message.get("delete_original"):
            self.posted.append(Posted("delete", message))
        elif message.get("replace_original"):
            self.posted.append(Posted("update", message))
        elif message.get("response_type") == "in_channel":
            self.posted.append(Posted("message", message, f"1700000000.{next(self._ts):06d}"))
        else:
            self.posted.append(Posted("ephemeral", message))
        return web.Response(text="ok")
