"""Setting the bot up through its real interface: signed `/quota link` commands from an admin."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from .common import ADMIN, CHANNEL, SIGNING_SECRET, TEAM_ID
from .loadgen import Control, post
from .signing import CommandSigner

LINKED = "now points to"
# A link the bot answers with "can't reach its database" is sent again (a fresh request).
ATTEMPTS = 3


async def _link(
    bot_url: str, slack_url: str, pairs: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Link each pair, one command at a time; the pairs that did not take, and why."""
    signer = CommandSigner(
        secret=SIGNING_SECRET, team=TEAM_ID, channel=CHANNEL, user=ADMIN, response_base=slack_url
    )
    prefix = f"link-{uuid.uuid4().hex[:8]}-"
    records = []
    async with aiohttp.ClientSession() as http:
        control = Control(http, slack_url)
        for i, (alias, application) in enumerate(pairs):
            item = signer.sign(f"{prefix}{i}", f"link {alias} {application} --workspace")
            records.append(await post(http, bot_url, item))
            # The work goes on after the ack: wait for its answer before the next command.
            await control.drain(prefix, i + 1, stall=15, cap=30)
        arrivals = await control.arrivals(prefix)
    failed, problems = [], []
    for i, pair in enumerate(pairs):
        record, arrival = records[i], arrivals.get(f"{prefix}{i}")
        if record.status != 200 or record.body:
            problems.append(f"ack {record.status} {record.body[:100]!r} {record.error}")
        elif arrival is None:
            problems.append("no answer")
        elif LINKED not in arrival[2]:
            problems.append(arrival[2])
        else:
            continue
        failed.append(pair)
    return failed, problems


def link_aliases(bot_url: str, slack_url: str, pairs: list[tuple[str, str]]) -> None:
    """Link each (alias, application) workspace-wide, as an admin would, one at a time (set-up
    is not measured); RuntimeError with what the bot said if a link did not take in
    ATTEMPTS tries."""
    for _ in range(ATTEMPTS):
        pairs, problems = asyncio.run(_link(bot_url, slack_url, pairs))
        if not pairs:
            return
        time.sleep(2)
    raise RuntimeError("linking aliases failed: " + "; ".join(problems[:5]))
