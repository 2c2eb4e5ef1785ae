"""What every `/quota` handler works with: who asked, where, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass

from ..context import InteractionContext


@dataclass(frozen=True, kw_only=True)
class CommandContext(InteractionContext):
    trigger_id: str
