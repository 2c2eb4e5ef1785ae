"""`/quota alert <alias> spike [N]|off` (admins): watch an alias for a spend spike."""

from __future__ import annotations

from ..context import CommandContext
from .grammar import SetSpike, SpikeOff


async def set_spike(context: CommandContext, request: SetSpike) -> None:
    raise NotImplementedError


async def spike_off(context: CommandContext, request: SpikeOff) -> None:
    raise NotImplementedError
