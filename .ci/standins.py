"""Slack Web API and Ace Data Cloud stand-ins for `.ci/container`, standard library only.

`python3 .ci/standins.py --host H --slack-port P --ace-port Q` serves until SIGTERM and prints
`ready` once both ports listen. Containers reach it (bridge: host.containers.internal; host
networking: 127.0.0.1), so it needs nothing installed in them or on the host.

Slack (http://H:P/api/<method>): auth.test, users.info (a user whose ID holds ADMIN is a
workspace admin), chat.postMessage (kept), anything else {"ok": true}; response_url messages at
POST /response/<key>. GET /_ci/posts lists the chat.postMessage calls received (channel, whether
it carries a header block as a digest does, its text).
Ace Data Cloud (http://H:Q): GET /api/v1/applications/<id>, the global-balance list GET
/api/v1/applications/?scope=Global, the token owner; the usage aggregate answers 404.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TEAM_ID = "TCI000001"
BOT_USER_ID = "UCIBOT001"
GLOBAL_APP_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

POSTS: list[dict[str, Any]] = []
RESPONSES: list[dict[str, Any]] = []
LOCK = threading.Lock()
TS = itertools.count(1)


def application(app_id: str, scope: str = "Individual", remaining: float = 493.221) -> dict:
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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fields(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        fields: dict[str, Any] = dict(parse_qsl(url.query))
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw:
            if "json" in (self.headers.get("content-type") or ""):
                fields.update(json.loads(raw))
            else:
                fields.update(parse_qsl(raw.decode()))
        return fields

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()


class Slack(Handler):
    def route(self) -> None:
        path = urlsplit(self.path).path
        fields = self._fields()
        if path == "/_ci/posts":
            with LOCK:
                return self._send(200, {"posts": POSTS, "responses": RESPONSES})
        if path.startswith("/response/"):
            with LOCK:
                RESPONSES.append({"key": path.rsplit("/", 1)[1], "text": fields.get("text")})
            return self._send(200, {"ok": True})
        if not path.startswith("/api/"):
            return self._send(404, {"ok": False, "error": "unknown_method"})
        self._send(200, self.answer(path.removeprefix("/api/"), fields))

    def answer(self, method: str, fields: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://ci.slack.com/",
                "team": "CI",
                "user": "quotabot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "BCI000001",
            }
        if method == "users.info":
            user = str(fields.get("user"))
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
        if method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            ts = f"{int(time.time())}.{next(TS):06d}"
            if method == "chat.postMessage":
                blocks = fields.get("blocks")
                if isinstance(blocks, str):
                    blocks = json.loads(blocks)
                with LOCK:
                    POSTS.append(
                        {
                            "channel": fields.get("channel"),
                            "digest": any(b.get("type") == "header" for b in blocks or []),
                            "text": str(fields.get("text") or "")[:200],
                        }
                    )
            return {"ok": True, "channel": fields.get("channel"), "ts": fields.get("ts") or ts}
        if method.startswith("views."):
            return {"ok": True, "view": {"id": "VCI000001"}}
        return {"ok": True}


class Ace(Handler):
    def route(self) -> None:
        path = urlsplit(self.path).path
        self._fields()
        if path == "/api/v1/applications/":
            app = application(GLOBAL_APP_ID, scope="Global", remaining=1234.5)
            return self._send(200, {"count": 1, "items": [app]})
        if path.startswith("/api/v1/applications/"):
            return self._send(200, application(path.rstrip("/").rsplit("/", 1)[1]))
        if path == "/api/v1/platform-tokens/me/":
            return self._send(200, {"id": "u-ci", "username": "ci", "email": "ci@ci.test"})
        self._send(404, {"detail": "Not found."})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slack-port", type=int, required=True)
    parser.add_argument("--ace-port", type=int, required=True)
    args = parser.parse_args()
    servers = [
        ThreadingHTTPServer((args.host, args.slack_port), Slack),
        ThreadingHTTPServer((args.host, args.ace_port), Ace),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
