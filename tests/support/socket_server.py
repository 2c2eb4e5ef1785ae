"""A small local Socket Mode server, standing in for Slack's WebSocket end as slack_sdk's and
bolt-python's own tests do (an aiohttp `/link` WebSocket).

`SlackServer.socket_url = SocketModeServer.url` makes `apps.connections.open` hand it out. On
each connection it says `hello` as Slack does; a test then sends envelopes and waits for the
acknowledgement (`{"envelope_id": …, "payload": …}`) the client sends back for each.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .loopback import serve_on_loopback

APP_ID = "A0001"

_envelope_ids = itertools.count(1)


@dataclass
class SocketModeServer:
    # The acknowledgement the client sent for each envelope_id, first one only.
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every text frame the client sent, as received.
    received: list[str] = field(default_factory=list)
    connections: int = 0  # WebSockets opened so far
    closed: int = 0  # of those, how many have closed
    port: int = 0
    _current: web.WebSocketResponse | None = None
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        if self._current is not None and not self._current.closed:
            await self._current.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for_connection(self, count: int = 1, *, timeout: float = 10.0) -> None:
        """Until `count` WebSockets have been opened (and greeted)."""
        await self._wait(lambda: self.connections >= count, timeout)

    async def wait_for_close(self, count: int = 1, *, timeout: float = 10.0) -> None:
        await self._wait(lambda: self.closed >= count, timeout)

    async def wait_for_ack(self, envelope_id: str, *, timeout: float = 3.0) -> dict[str, Any]:
        """The client's acknowledgement of `envelope_id`; Slack wants it within 3 seconds."""
        await self._wait(lambda: envelope_id in self.acks, timeout)
        return self.acks[envelope_id]

    async def send_envelope(
        self,
        kind: str,
        payload: Any,
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = True,
    ) -> str:
        """Send one envelope on the open connection; returns its envelope_id."""
        envelope_id = envelope_id or f"env-{next(_envelope_ids)}"
        await self.send_raw(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "accepts_response_payload": accepts_response_payload,
                    "payload": payload,
                }
            )
        )
        return envelope_id

    async def send_slash_command(self, fields: dict[str, str]) -> str:
        """A slash command as Socket Mode delivers it: the form's fields as an object."""
        return await self.send_envelope("slash_commands", fields)

    async def send_raw(self, text: str) -> None:
        if self._current is None or self._current.closed:
            raise AssertionError("no Socket Mode connection is open")
        await self._current.send_str(text)

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings itself
        await ws.prepare(request)
        self._current = ws
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        self.connections += 1
        await self._notify()
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                self.received.append(message.data)
                try:
                    ack = json.loads(message.data)
                except ValueError:
                    ack = None
                if isinstance(ack, dict) and isinstance(ack.get("envelope_id"), str):
                    self.acks.setdefault(ack["envelope_id"], ack)
                await self._notify()
        finally:
            self.closed += 1
            await self._notify()
        return ws
