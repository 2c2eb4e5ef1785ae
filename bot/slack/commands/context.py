"""What every `/quota` handler works with: who asked, where, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from .. import blocks
from ..context import InteractionContext


@dataclass(frozen=True)
class CommandContext(InteractionContext):
    trigger_id: str

    async def say_privately(self, text: str, blocks_: blocks.Blocks | None = None) -> None:
        await self.respond(response_type="ephemeral", text=text, blocks=blocks_)
