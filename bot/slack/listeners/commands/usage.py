"""`/quota usage <alias> [today|7d|30d]`: the application's spend by API, posted like a card."""

from __future__ import annotations

from ..context import CommandContext
from .grammar import ShowUsage


async def show_usage(context: CommandContext, request: ShowUsage) -> None:
    raise NotImplementedError
