"""The soak (loopback only, bounded, stops by itself; not part of the test suite).

    python -m tests.soak --postgres URL [--pg-bin DIR --pg-data DIR] [--minutes 10]

On PostgreSQL (its `public` schema is dropped and recreated), two `quota-bot serve` and two
`quota-bot worker` processes run the bot as deployed, against the bench's stand-ins with 5 % of
Slack posts and Ace Data Cloud reads failing. A steady mix of commands, Refresh presses and App
Home opens arrives at both servers while digests fall due every minute and alerts are checked;
PostgreSQL is restarted once (with --pg-bin and --pg-data) and one worker is killed with
SIGKILL. It prints requests by outcome, acks over 3 s, 5xx answers, digests due, sent and sent
twice, alerts posted twice, and each process's RSS at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import create_engine, text

from tests.bench.common import ADMIN, MEMBER, SIGNING_SECRET, TEAM_ID, app_id, free_port
from tests.bench.servers import (
    Child,
    DatabaseTarget,
    _sync_url,
    bot_environment,
    http_json,
    migrate,
    spawn,
    start_standins,
    wait_until,
)
from tests.bench.signing import CommandSigner

RATE = 4.0  # requests a second, spread over both servers
FAULT_RATE = 0.05
DIGESTS = 30
ALERTS = 10
SETTINGS = {
    "WORKER_POLL_SECONDS": "2",
    "ALERT_CHECK_SECONDS": "20",
    "DIGEST_LEASE_SECONDS": "30",
    "RETRY_BACKOFF_SECONDS": "0.2",
}


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    slow_acks: int = 0
    server_errors: int = 0


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _mib(value: float | None) -> str:
    return "gone" if value is None else f"{value:.1f} MiB"


def start(name: str, argv: list[str], env: dict[str, str], logdir: Path) -> Child:
    return spawn(name, ["-m", "bot", *argv], env=env, logdir=logdir, cwd=logdir)


def command(base: str, channel: str, user: str, text_: str, key: str) -> tuple[bytes, dict]:
    signer = CommandSigner(
        secret=SIGNING_SECRET, team=TEAM_ID, channel=channel, user=user, response_base=base
    )
    signed = signer.sign(key, text_)
    return signed.body, signed.headers


def signed(raw: str, content_type: str) -> tuple[bytes, dict]:
    """`raw` with the headers Slack would sign it with."""
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=raw)
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature,
    }
    return raw.encode(), headers


def signed_json(body: dict) -> tuple[bytes, dict]:
    return signed(json.dumps(body), "application/json")


def home_open(n: int) -> tuple[bytes, dict]:
    return signed_json(
        {
            "team_id": TEAM_ID,
            "api_app_id": "ABENCH001",
            "type": "event_callback",
            "event_id": f"EvSOAK{n:08d}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": ADMIN, "tab": "home"},
        }
    )


def refresh_press(base: str, n: int) -> tuple[bytes, dict]:
    from urllib.parse import urlencode

    value = json.dumps({"alias": "prod", "application_id": app_id(0)}, separators=(",", ":"))
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": MEMBER, "team_id": TEAM_ID},
        "channel": {"id": "CSOAKLOAD"},
        "container": {"message_ts": "1700000000.000100", "channel_id": "CSOAKLOAD"},
        "response_url": f"{base}/response/press{n}",
        "actions": [
            {
                "action_id": "quota_card_refresh",
                "block_id": "quota_card_actions:command",
                "value": value,
            }
        ],
    }
    return signed(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


async def send(
    http: aiohttp.ClientSession, url: str, request: tuple[bytes, dict], tally: Tally, kind: str
) -> None:
    body, headers = request
    started = time.monotonic()
    try:
        async with http.post(url, data=body, headers=headers) as answer:
            await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.outcomes[f"{kind}: {type(exc).__name__}"] += 1
        return
    if time.monotonic() - started > 3:
        tally.slow_acks += 1
    if status >= 500:
        tally.server_errors += 1
    tally.outcomes[f"{kind}: {status}"] += 1


async def load(urls: list[str], slack_url: str, until: float, tally: Tally) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        pending: set[asyncio.Task[None]] = set()
        n = 0
        while time.monotonic() < until:
            n += 1
            url = urls[n % len(urls)]
            roll = random.random()
            if roll < 0.6:
                request = command(slack_url, "CSOAKLOAD", MEMBER, "prod", f"cmd{n}")
                kind = "command"
            elif roll < 0.8:
                request, kind = refresh_press(slack_url, n), "button"
            else:
                request, kind = home_open(n), "app_home"
            task = asyncio.ensure_future(send(http, url, request, tally, kind))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(1 / RATE)
        await asyncio.gather(*pending)


def set_up(url: str, slack_url: str, start_at: datetime, minutes: int) -> None:
    """The workspace as an admin sets it up: an alias, digests due every minute, alerts."""
    import urllib.request

    def post(channel: str, text_: str, key: str) -> None:
        body, headers = command(slack_url, channel, ADMIN, text_, key)
        urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=30)

    post("CSOAKLOAD", f"link prod {app_id(0)} --workspace", "setup-link")
    for i in range(DIGESTS):
        at = start_at + timedelta(minutes=1 + i % (minutes - 2))  # all due within the run
        post(f"CSOAKD{i:03d}", f"digest daily {at:%H:%M} UTC", f"setup-d{i}")
    for i in range(ALERTS):
        post(f"CSOAKA{i:03d}", "alert prod below 1000", f"setup-a{i}")


def restart_postgres(pg_bin: str, pg_data: str) -> None:
    log = f"{pg_data}/soak-restart.log"  # the server's output, never our pipes
    argv = [f"{pg_bin}/pg_ctl", "-D", pg_data, "-l", log, "restart", "-m", "fast", "-w"]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(
        argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120
    )


def digest_figures(database_url: str, posts: list[list]) -> tuple[int, int, int]:
    engine = create_engine(_sync_url(database_url))
    with engine.connect() as connection:
        sent = connection.execute(
            text("SELECT count(*) FROM digest_deliveries WHERE outcome IN ('sent', 'partial')")
        ).scalar_one()
    engine.dispose()
    per_channel = Counter(p[0] for p in posts if p[2] and p[1] is None)
    twice = sum(1 for count in per_channel.values() if count > 1)
    return DIGESTS, int(sent), twice


def alerts_twice(posts: list[list]) -> int:
    told = Counter(p[0] for p in posts if p[1] is None and len(p) > 3 and "alert threshold" in p[3])
    return sum(1 for count in told.values() if count > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SOAK_POSTGRES_URL"))
    parser.add_argument("--pg-bin")
    parser.add_argument("--pg-data")
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    if not args.postgres:
        parser.error("--postgres URL (or SOAK_POSTGRES_URL) is required")
    if args.minutes < 3:
        parser.error("--minutes must be at least 3 (digests fall due from the second minute)")
    logdir = Path(tempfile.mkdtemp(prefix="quota-bot-soak-"))
    print(f"logs in {logdir}", flush=True)
    standins = start_standins(logdir)
    database_url = DatabaseTarget("postgresql", args.postgres).fresh("soak")
    children: list[Child] = [standins.child]
    try:
        servers = []
        for name in ("serve-1", "serve-2"):
            port = free_port()
            env = bot_environment(database_url, standins, port=port) | SETTINGS
            if name == "serve-1":
                migrate(env, logdir, "soak")
            child = start(name, ["serve"], env, logdir)
            children.append(child)
            base = f"http://127.0.0.1:{port}"
            wait_until(
                lambda b=base: http_json(f"{b}/healthz")["status"] == "ok",
                timeout=60,
                what=name,
                child=child,
            )
            servers.append(f"{base}/slack/events")
        time.sleep(2)  # each server learns who it is (auth.test) in the background
        started_at = datetime.now(UTC)
        set_up(servers[0], standins.slack_url, started_at, int(args.minutes))
        env = bot_environment(database_url, standins) | SETTINGS
        workers = [start(f"worker-{n}", ["worker"], env, logdir) for n in (1, 2)]
        children += workers
        time.sleep(3)
        rss_start = {c.name: rss_mib(c.pid) for c in children}
        http_json(f"{standins.slack_url}/_bench/faults", {"rate": FAULT_RATE})
        tally = Tally()
        duration = args.minutes * 60
        began = time.monotonic()

        async def run() -> None:
            loop = asyncio.get_running_loop()
            work = asyncio.ensure_future(load(servers, standins.slack_url, began + duration, tally))
            await asyncio.sleep(duration * 0.35)
            if args.pg_bin and args.pg_data:
                await loop.run_in_executor(None, restart_postgres, args.pg_bin, args.pg_data)
                print("PostgreSQL restarted", flush=True)
            await asyncio.sleep(duration * 0.25)
            os.kill(workers[0].pid, signal.SIGKILL)
            print("worker-1 killed (SIGKILL)", flush=True)
            await work

        asyncio.run(run())
        http_json(f"{standins.slack_url}/_bench/faults", {"rate": 0.0})
        time.sleep(45)  # the lease of a slot the killed worker held runs out; its survivor sends
        rss_end = {c.name: rss_mib(c.pid) for c in children}
        posts = http_json(f"{standins.slack_url}/_bench/posts")
        due, sent, twice = digest_figures(database_url, posts["posts"])
        print(f"\nSoak: {args.minutes:g} min, {RATE:g} requests/s, {FAULT_RATE:.0%} faults")
        print("requests by outcome:", dict(sorted(tally.outcomes.items())))
        print(f"acks over 3 s: {tally.slow_acks}; bot 5xx: {tally.server_errors}")
        print(f"digests due {due}, sent {sent}, sent twice {twice}")
        print(f"alerts posted twice: {alerts_twice(posts['posts'])}")
        print("faults injected:", posts["faults"])
        for name in rss_start:
            print(f"RSS {name}: {_mib(rss_start[name])} at start, {_mib(rss_end[name])} at end")
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    main()
