"""Scenario (c): one digest round for many subscriptions, in a worker child process."""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from typing import Any

from bot.config import Settings
from bot.services import digests, rounds
from bot.worker import DELIVERY_CONCURRENCY

from .common import REPO
from .harness import Bench, MemoryRow
from .report import table
from .servers import bot_environment, migrate

WORKSPACES = 100
APPLICATIONS = 300
ACE_LATENCY = 0.100
SLACK_LATENCY = 0.020
DB_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

HEADERS = [
    "database",
    "digests",
    "sent",
    "rounds",
    "wall s",
    "worker CPU s",
    "ideal s",
    "wall ÷ ideal",
    "app reads (distinct)",
    "balance reads",
    "Slack posts",
    "DB statements",
    "per digest",
    "peak RSS MiB",
    "with poll waits s",
]


def claim_batch() -> int:
    """How many slots one `digest_round` claims at most (`claim_due`'s default limit)."""
    return int(inspect.signature(digests.claim_due).parameters["limit"].default)


def ideal_seconds(subscriptions: int) -> float:
    """The shortest round the configured concurrency allows with zero CPU and database time:
    every application read once, READ_CONCURRENCY at a time (and READS_PER_TOKEN per workspace
    token), then at least one post; every digest posted, DELIVERY_CONCURRENCY at a time, after
    at least one read."""
    per_token = math.ceil(APPLICATIONS / WORKSPACES)
    read_waves = max(
        math.ceil(APPLICATIONS / rounds.READ_CONCURRENCY),
        math.ceil(per_token / rounds.READS_PER_TOKEN),
    )
    reads = read_waves * ACE_LATENCY + SLACK_LATENCY
    posts = math.ceil(subscriptions / DELIVERY_CONCURRENCY) * SLACK_LATENCY + ACE_LATENCY
    return max(reads, posts)


def _child(args: list[str], env: dict[str, str], bench: Bench, timeout: float) -> dict[str, Any]:
    log = (bench.workdir / "digest-child.log").open("ab")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.bench.digest_child", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=timeout,
        )
    finally:
        log.close()
    if done.returncode != 0 or not done.stdout.strip():
        tail = (bench.workdir / "digest-child.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"digest child {args[0]} failed:\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(bench: Bench, *, sizes: list[int]) -> None:
    o = bench.options
    poll = float(Settings.model_fields["worker_poll_seconds"].default)
    rows: list[list[object]] = []
    notes: list[str] = []
    try:
        for target in bench.targets:
            for size in sizes:
                url = target.fresh(f"digest-{size}")
                env = bot_environment(url, bench.standins, oauth=True)
                migrate(env, bench.workdir, f"digest-{size}")
                bench.normal_latency()
                _child(["seed", "--subscriptions", str(size)], env, bench, timeout=1800)
                bench.standins.configure(ace_latency=ACE_LATENCY, slack_latency=SLACK_LATENCY)
                bench.standins.reset()
                r = _child(
                    ["round", "--timeout", str(o.digest_timeout)],
                    env,
                    bench,
                    timeout=o.digest_timeout + 300,
                )
                stats = bench.standins.stats()
                sent = r["outcomes"].get("sent", 0)
                # A run cut short is compared with the ideal for what it reached.
                ideal = ideal_seconds(sent if r["timed_out"] else size)
                rounds = len(r["rounds"])
                rows.append(
                    [
                        DB_NAMES[target.kind],
                        size,
                        sent,
                        f"{rounds}+ (stopped)" if r["timed_out"] else rounds,
                        r["wall"],
                        r["cpu"],
                        ideal,
                        f"{r['wall'] / ideal:.1f}" if sent else "—",
                        f"{stats['ace'].get('application', 0):,} ({stats['distinct_apps']:,})",
                        stats["ace"].get("global", 0),
                        stats["slack"].get("chat.postMessage", 0),
                        r["statements"],
                        round(r["statements"] / max(1, sent), 1),
                        r["peak_rss_mib"],
                        r["wall"] + max(0, rounds - 1) * poll,
                    ]
                )
                bench.memory.append(
                    MemoryRow(
                        f"worker: {DB_NAMES[target.kind]}",
                        f"after (c) {size:,} digests",
                        r["peak_rss_mib"],
                    )
                )
                if r["timed_out"]:
                    notes.append(
                        f"- {DB_NAMES[target.kind]}, {size:,}: stopped after "
                        f"{o.digest_timeout:g} s with {sent:,} of {size:,} sent "
                        f"(outcomes {r['outcomes']})."
                    )
                elif sent != size:
                    notes.append(f"- {DB_NAMES[target.kind]}, {size:,}: outcomes {r['outcomes']}.")
    finally:
        bench.normal_latency()
    legend = (
        f"{WORKSPACES} workspaces (each its own installation and platform token) over "
        f"{APPLICATIONS} applications ({APPLICATIONS // WORKSPACES} workspace-wide aliases each); "
        "one daily digest per channel, channels spread evenly over the workspaces, all due now. "
        f"Ace Data Cloud stand-in {ACE_LATENCY * 1000:g} ms, Slack {SLACK_LATENCY * 1000:g} ms. "
        "`digest_round` is called back to back until it claims nothing (rounds = the calls that "
        f"claimed something; `claim_due` takes at most {claim_batch()} slots per claim); wall = "
        "until the last slot was finished (worker CPU: the child's own, over the same span; near "
        "wall means the worker, not the latencies, was the limit); a run stopped by the cap is "
        "compared with the ideal for the digests it sent. Limits read "
        f"from the code: DELIVERY_CONCURRENCY={DELIVERY_CONCURRENCY}, "
        f"READ_CONCURRENCY={rounds.READ_CONCURRENCY}, "
        f"READS_PER_TOKEN={rounds.READS_PER_TOKEN}. ideal = max(⌈apps ÷ read limit⌉ x "
        "upstream + Slack, ⌈digests ÷ delivery limit⌉ x Slack + upstream). app reads should "
        "equal the distinct applications; balance reads are the global balance, once per token "
        f"per round. 'with poll waits' adds WORKER_POLL_SECONDS ({poll:g} s) between rounds, as "
        "`quota-bot worker` waits."
    )
    parts = [legend, table(HEADERS, rows)]
    if notes:
        parts.append("\n".join(notes))
    bench.report.section("(c) Digest round", "\n\n".join(parts))
