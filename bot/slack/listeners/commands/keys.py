"""`/quota keys <alias>` (admins): the application's API keys, with a cap, pause and resume
button each."""

from __future__ import annotations

from ..context import CommandContext
from .grammar import ListKeys


async def list_keys(context: CommandContext, request: ListKeys) -> None:
    raise NotImplementedError
