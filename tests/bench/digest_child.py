"""The digest scenario's worker side, in its own process (so its peak RSS is the worker's).

`python -m tests.bench.digest_child seed --subscriptions N --workspaces W --applications A`
stores W installations (slack_sdk's store, as the OAuth flow saves them), a platform token per
workspace, A workspace-wide aliases (A/W per workspace) and N channel digests due now.

`python -m tests.bench.digest_child round --timeout S` opens a Runtime as `quota-bot worker`
does, counts database statements, and calls `bot.worker.digest_round` back to back until it
claims nothing (or S seconds pass); prints one JSON object.

Both read the bot's settings from the environment (OAuth mode: SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET set, no SLACK_BOT_TOKEN).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time as clock
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import load_settings
from bot.db.installations import installation_store
from bot.db.models import DigestDelivery, DigestSchedule, utcnow
from bot.runtime import Runtime
from bot.services import aliases, digests, workspaces
from bot.services.schedules import Schedule
from bot.slack.install.tokens import SlackAccess
from bot.worker import digest_round

from .common import ADMIN, app_id, vm_hwm_mib

# Up to this many digests are set with the service (`set_schedule`, audited like a command);
# more are inserted in bulk, which stores the same schedule rows far faster.
SERVICE_SCHEDULES = 1000
REQUIRED = ("slack_credentials", "encryption_key")


def team_of(index: int) -> str:
    return f"TD{index:05d}"


def channel_of(index: int) -> str:
    return f"CD{index:06d}"


def digest_application(index: int) -> str:
    return app_id(100_000 + index)


async def seed(subscriptions: int, workspace_count: int, applications: int) -> dict[str, Any]:
    runtime = await Runtime.open(load_settings(required=REQUIRED))
    try:
        store = installation_store(str(runtime.settings.slack_client_id), runtime.db.engine)
        for w in range(workspace_count):
            team = team_of(w)
            await store.async_save(
                Installation(
                    app_id="ABENCH001",
                    team_id=team,
                    team_name=f"Bench {w}",
                    bot_token=f"xoxb-bench-{team}",
                    bot_id=f"B{team}",
                    bot_user_id=f"U{team}",
                    bot_scopes="commands,chat:write,users:read,links:read,links:write",
                    user_id=ADMIN,
                    installed_at=clock.time(),
                )
            )
            await workspaces.save_token(
                runtime.db,
                team_id=team,
                token=f"platform-v1-bench{w:05d}" + "0" * 40,
                account="bench",
                user_id=ADMIN,
            )
        for a in range(applications):
            await aliases.link(
                runtime.db,
                team_id=team_of(a % workspace_count),
                channel_id=None,
                name=f"app{a:04d}",
                application_id=digest_application(a),
                user_id=ADMIN,
            )
        now = utcnow()
        # Due a minute ago: the slot is on time, not "late".
        at = (now - timedelta(minutes=1)).time().replace(second=0, microsecond=0)
        schedule = Schedule("daily", time(at.hour, at.minute), ZoneInfo("UTC"))
        if subscriptions <= SERVICE_SCHEDULES:
            for i in range(subscriptions):
                await digests.set_schedule(
                    runtime.db,
                    team_id=team_of(i % workspace_count),
                    channel_id=channel_of(i),
                    schedule=schedule,
                    now=now,
                    user_id=ADMIN,
                )
        else:
            rows = [
                {
                    "team_id": team_of(i % workspace_count),
                    "channel_id": channel_of(i),
                    "kind": "daily",
                    "at_time": f"{at.hour:02d}:{at.minute:02d}",
                    "weekday": None,
                    "zone": "UTC",
                    "next_run_at": now,
                    "created_by": ADMIN,
                    "created_at": now,
                }
                for i in range(subscriptions)
            ]

            async def bulk(session: AsyncSession) -> None:
                await session.execute(insert(DigestSchedule), rows)

            await runtime.db.run(bulk, timeout=300)

        async def make_due(session: AsyncSession) -> None:
            await session.execute(
                update(DigestSchedule).values(next_run_at=now - timedelta(seconds=1))
            )

        await runtime.db.run(make_due, timeout=300)
        return {"seeded": subscriptions}
    finally:
        await runtime.close()


async def run_rounds(timeout: float) -> dict[str, Any]:
    runtime = await Runtime.open(load_settings(required=REQUIRED))
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", count)
    access = SlackAccess.open(runtime, retry_seconds=0)
    rounds: list[dict[str, float]] = []
    done = {"wall": 0.0, "statements": 0, "cpu": 0.0}
    started, cpu = clock.monotonic(), clock.process_time()

    async def every_round() -> None:
        while True:
            began = clock.monotonic()
            claimed = await digest_round(runtime, access, now=utcnow())
            if not claimed:
                return
            rounds.append({"claimed": claimed, "seconds": clock.monotonic() - began})
            done["wall"], done["statements"] = clock.monotonic() - started, statements
            done["cpu"] = clock.process_time() - cpu

    timed_out = False
    try:
        await asyncio.wait_for(every_round(), timeout)
    except TimeoutError:
        timed_out = True
        done["wall"], done["statements"] = clock.monotonic() - started, statements
        done["cpu"] = clock.process_time() - cpu

    async def outcomes(session: AsyncSession) -> dict[str, int]:
        query = select(DigestDelivery.outcome, func.count()).group_by(DigestDelivery.outcome)
        return {outcome: n for outcome, n in (await session.execute(query)).all()}

    try:
        found = await runtime.db.run(outcomes, timeout=60)
    finally:
        await runtime.close()
    return {
        "wall": done["wall"],
        "statements": done["statements"],
        "cpu": done["cpu"],
        "rounds": rounds,
        "timed_out": timed_out,
        "outcomes": found,
        "peak_rss_mib": vm_hwm_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed")
    seeding.add_argument("--subscriptions", type=int, required=True)
    seeding.add_argument("--workspaces", type=int, default=100)
    seeding.add_argument("--applications", type=int, default=300)
    rounds = commands.add_parser("round")
    rounds.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    # As `quota-bot worker` logs: one line per digest is part of the worker's cost.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "seed":
        result = asyncio.run(seed(args.subscriptions, args.workspaces, args.applications))
    else:
        result = asyncio.run(run_rounds(args.timeout))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
