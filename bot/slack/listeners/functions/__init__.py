"""(being written)"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime


def register(app: AsyncApp, runtime: Runtime) -> None:
    pass
