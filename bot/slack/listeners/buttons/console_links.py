"""The console's link buttons (*Open in console*, *Top up*): Slack opens the page and still
sends the press, which is acknowledged and nothing more."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncAck, AsyncApp

from ....runtime import Runtime
from ... import ids


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.action(re.compile(rf"^{ids.LINK_ACTION_PREFIX}_"))
    async def link_pressed(ack: AsyncAck) -> None:
        await ack()
