"""Setting the bot up through its real interface: signed `/quota link` commands from an admin."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from .common import ADMIN, CHANNEL, SIGNING_SECRET, TEAM_ID, now
from .loadgen import Control, closed_loop
from .signing import CommandSigner

LINKED = "now points to"


async def _link(bot_url: str, slack_url: str, pairs: list[tuple[str, str]]) -> list[str]:
    signer = CommandSigner(
        secret=SIGNING_SECRET, team=TEAM_ID, channel=CHANNEL, user=ADMIN, response_base=slack_url
    )
    prefix = f"link-{uuid.uuid4().hex[:8]}-"
    items = iter(
        [
            signer.sign(f"{prefix}{i}", f"link {alias} {application} --workspace")
            for i, (alias, application) in enumerate(pairs)
        ]
    )
    async with aiohttp.ClientSession() as http:
        records = await closed_loop(http, bot_url, lambda: next(items, None), 8, now() + 300)
        control = Control(http, slack_url)
        await control.drain(prefix, len(pairs), stall=15, cap=120)
        arrivals = await control.arrivals(prefix)
    problems = [
        f"ack {r.status} {r.body[:100]!r} {r.error}" for r in records if r.status != 200 or r.body
    ]
    problems += [snippet for _, _, snippet in arrivals.values() if LINKED not in snippet]
    if len(arrivals) < len(pairs):
        problems.append(f"{len(pairs) - len(arrivals)} link commands got no answer")
    return problems


def link_aliases(bot_url: str, slack_url: str, pairs: list[tuple[str, str]]) -> None:
    """Link each (alias, application) workspace-wide, as an admin would; RuntimeError with what
    the bot said if any link did not take."""
    problems = asyncio.run(_link(bot_url, slack_url, pairs))
    if problems:
        raise RuntimeError("linking aliases failed: " + "; ".join(problems[:5]))
