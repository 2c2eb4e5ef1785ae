"""Slack (Web API and response_url) and Ace Data Cloud stand-ins: one asyncio process, two ports.

`python -m tests.bench.standins` prints `{"slack_port": …, "ace_port": …}` on its first line and
serves until SIGTERM. Each answer waits a configurable latency (asyncio.sleep, so a thousand
requests in flight cost nothing), bodies are pre-serialised, and nothing is logged per request:
the stand-ins must stay far below one core while the bot saturates.

Control endpoints on the Slack port, used by the bench itself:
  POST /_bench/config  {"ace_latency": s, "slack_latency": s}
  POST /_bench/reset   forget arrivals and counters
  GET  /_bench/count?prefix=P     how many response_url keys starting with P got a message
  GET  /_bench/arrivals?prefix=P  [[key, time, kind, snippet], …] for those keys
  GET  /_bench/stats   Web API calls per method, Ace Data Cloud reads per kind, distinct apps
  POST /_bench/faults  {"rate": r}: that share of chat.postMessage, chat.update, views.publish
                       and Ace Data Cloud application reads fail (Slack 503 or 429, upstream
                       500); the soak's 5 %
  GET  /_bench/posts   [[channel, thread_ts, is_digest, first line], …] of every accepted post
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import signal
import time
from collections import Counter
from typing import Any

from aiohttp import web

from .common import BOT_USER_ID, TEAM_ID, now

GLOBAL_APP_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
# Web API methods the soak makes fail now and then.
FAULTY = frozenset({"chat.postMessage", "chat.update", "views.publish"})
JSON = "application/json"


def application(app_id: str, *, scope: str = "Individual", remaining: float = 493.221) -> dict:
    """An application as Ace Data Cloud answers it (the shape of tests/support/client.py's)."""
    return {
        "id": app_id,
        "service_id": "d87e5e99-b797-4ade-9e73-b896896b0461",
        "service": {
            "id": "d87e5e99",
            "title": "Midjourney",
            "alias": "midjourney",
            "unit": "Credits",
        },
        "user_id": "b87f67c1-b04f-4332-99a1-7a5e651331c6",
        "type": "Usage",
        "scope": scope,
        "remaining_amount": remaining,
        "used_amount": 21.779,
        "allow_consume_global": False,
        "expired_at": None,
        "created_at": "2024-05-30T14:41:20.052849Z",
        "updated_at": "2024-08-16T07:51:15.603207Z",
        "tags": None,
    }


def classify(message: dict[str, Any]) -> str:
    """What a response_url message is: a card, the overload answer, an upstream timeout, or
    another error sentence."""
    if message.get("response_type") == "in_channel":
        return "card"
    text = json.dumps(message).lower()
    if "busy" in text:
        return "busy"
    if "did not answer in time" in text:
        return "timeout"
    return "error"


class Standins:
    def __init__(self) -> None:
        self.ace_latency = 0.0
        self.slack_latency = 0.0
        self.arrivals: dict[str, tuple[float, str, str]] = {}
        self.duplicates = 0
        self.methods: Counter[str] = Counter()
        self.ace: Counter[str] = Counter()
        self.apps_read: set[str] = set()
        self._apps: dict[str, bytes] = {}
        self._ts = itertools.count(1)
        self.fault_rate = 0.0
        self.faults: Counter[str] = Counter()
        self.posts: list[list[Any]] = []
        self._global = json.dumps(
            {"count": 1, "items": [application(GLOBAL_APP_ID, scope="Global", remaining=1234.5)]}
        ).encode()
        self._auth = json.dumps(
            {
                "ok": True,
                "url": "https://bench.slack.com/",
                "team": "Bench",
                "user": "quotabot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "BBENCH001",
            }
        ).encode()

    # Slack ------------------------------------------------------------------------------

    async def slack_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.methods[method] += 1
        data: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == JSON:
                data.update(await request.json())
            else:
                data.update(await request.post())
        if self.slack_latency:
            await asyncio.sleep(self.slack_latency)
        if method == "auth.test":
            return web.Response(body=self._auth, content_type=JSON)
        if method in FAULTY and self.fault_rate and random.random() < self.fault_rate:
            self.faults[f"slack {method}"] += 1
            if random.random() < 0.5:
                return web.Response(status=503, text="upstream connect error")
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if method == "chat.postMessage":
            self._note_post(data)
        return web.json_response(self._answer(method, data))

    def _note_post(self, data: dict[str, Any]) -> None:
        blocks = data.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        is_digest = any(b.get("type") == "header" for b in blocks or [])
        line = str(data.get("text") or "").splitlines()[0:1]
        self.posts.append([data.get("channel"), data.get("thread_ts"), is_digest, *line])

    def _answer(self, method: str, data: dict[str, Any]) -> dict[str, Any]:
        match method:
            case "users.info":
                user = str(data.get("user"))
                return {
                    "ok": True,
                    "user": {
                        "id": user,
                        "team_id": TEAM_ID,
                        "is_admin": "ADMIN" in user,
                        "is_owner": False,
                        "tz": "UTC",
                    },
                }
            case "chat.postMessage" | "chat.update" | "chat.postEphemeral":
                ts = f"{int(time.time())}.{next(self._ts) % 1_000_000:06d}"
                return {"ok": True, "channel": data.get("channel"), "ts": data.get("ts") or ts}
            case "views.open" | "views.publish" | "views.update":
                return {"ok": True, "view": {"id": "VBENCH001"}}
        return {"ok": True}

    async def response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        arrived = now()
        message = await request.json()
        if key in self.arrivals:
            self.duplicates += 1
        else:
            kind = classify(message)
            snippet = "" if kind == "card" else str(message.get("text") or "")[:160]
            self.arrivals[key] = (arrived, kind, snippet)
        if self.slack_latency:
            await asyncio.sleep(self.slack_latency)
        return web.Response(text="ok")

    # Ace Data Cloud -----------------------------------------------------------------------

    async def ace_application(self, request: web.Request) -> web.Response:
        app_id = request.match_info["app_id"]
        self.ace["application"] += 1
        if self.fault_rate and random.random() < self.fault_rate:
            self.faults["ace application"] += 1
            return web.json_response({"error": {"code": "x", "message": "Boom"}}, status=500)
        self.apps_read.add(app_id)
        body = self._apps.get(app_id)
        if body is None:
            body = self._apps[app_id] = json.dumps(application(app_id)).encode()
        if self.ace_latency:
            await asyncio.sleep(self.ace_latency)
        return web.Response(body=body, content_type=JSON)

    async def ace_list(self, request: web.Request) -> web.Response:
        self.ace["global" if request.query.get("scope") == "Global" else "list"] += 1
        if self.ace_latency:
            await asyncio.sleep(self.ace_latency)
        return web.Response(body=self._global, content_type=JSON)

    async def ace_aggregate(self, request: web.Request) -> web.Response:
        self.ace["aggregate"] += 1
        if self.ace_latency:
            await asyncio.sleep(self.ace_latency)
        return web.json_response({"detail": "Not found."}, status=404)

    async def ace_token_owner(self, request: web.Request) -> web.Response:
        self.ace["token_owner"] += 1
        if self.ace_latency:
            await asyncio.sleep(self.ace_latency)
        return web.json_response({"id": "u-bench", "username": "bench", "email": "b@bench.test"})

    # Control ----------------------------------------------------------------------------

    async def config(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.ace_latency = float(body.get("ace_latency", self.ace_latency))
        self.slack_latency = float(body.get("slack_latency", self.slack_latency))
        return web.json_response({"ace_latency": self.ace_latency, "slack": self.slack_latency})

    async def set_faults(self, request: web.Request) -> web.Response:
        self.fault_rate = float((await request.json()).get("rate", 0.0))
        return web.json_response({"rate": self.fault_rate})

    async def posts_of(self, request: web.Request) -> web.Response:
        return web.json_response({"posts": self.posts, "faults": dict(self.faults)})

    async def reset(self, request: web.Request) -> web.Response:
        self.arrivals.clear()
        self.duplicates = 0
        self.methods.clear()
        self.ace.clear()
        self.apps_read.clear()
        return web.json_response({"ok": True})

    def _matching(self, request: web.Request) -> list[tuple[str, tuple[float, str, str]]]:
        prefix = request.query.get("prefix", "")
        return [(k, v) for k, v in self.arrivals.items() if k.startswith(prefix)]

    async def count(self, request: web.Request) -> web.Response:
        return web.json_response({"count": len(self._matching(request))})

    async def arrivals_of(self, request: web.Request) -> web.Response:
        found = [[key, *value] for key, value in self._matching(request)]
        return web.json_response({"arrivals": found, "duplicates": self.duplicates})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "slack": dict(self.methods),
                "ace": dict(self.ace),
                "distinct_apps": len(self.apps_read),
            }
        )

    def slack_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.slack_api)
        app.router.add_post("/response/{key}", self.response_url)
        app.router.add_post("/_bench/config", self.config)
        app.router.add_post("/_bench/reset", self.reset)
        app.router.add_get("/_bench/count", self.count)
        app.router.add_get("/_bench/arrivals", self.arrivals_of)
        app.router.add_get("/_bench/stats", self.stats)
        app.router.add_post("/_bench/faults", self.set_faults)
        app.router.add_get("/_bench/posts", self.posts_of)
        return app

    def ace_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/applications/", self.ace_list)
        app.router.add_get("/api/v1/applications/{app_id}", self.ace_application)
        app.router.add_get("/api/v1/usage/apis/aggregate/", self.ace_aggregate)
        app.router.add_get("/api/v1/platform-tokens/me/", self.ace_token_owner)
        return app


async def _serve(slack_port: int, ace_port: int) -> None:
    standins = Standins()
    runners = [
        web.AppRunner(standins.slack_app(), access_log=None),
        web.AppRunner(standins.ace_app(), access_log=None),
    ]
    ports = []
    for runner, port in zip(runners, (slack_port, ace_port), strict=True):
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    print(json.dumps({"slack_port": ports[0], "ace_port": ports[1]}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for runner in runners:
        with contextlib.suppress(Exception):
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack-port", type=int, default=0)
    parser.add_argument("--ace-port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve(args.slack_port, args.ace_port))


if __name__ == "__main__":
    main()
