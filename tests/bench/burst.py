"""Scenario (b): a burst of `/quota <alias>` all at once while Ace Data Cloud is slow."""

from __future__ import annotations

from typing import Any

from .common import ONE_ALIAS, alias_map
from .harness import FLOOR_LABELS, LABELS, Bench
from .report import table
from .setup import link_aliases

HEADERS = [
    "server",
    "sent",
    "cards",
    'told "did not answer in time"',
    "busy",
    "errors",
    "lost",
    "ack p50 ms",
    "ack max ms",
    "last card s",
    "CPU ms/req",
]


def run(bench: Bench) -> None:
    o = bench.options
    bots = [bench.start_bot(f"bot-{target.kind}-burst", target) for target in bench.targets]
    for bot in bots:
        link_aliases(bot.url, bench.standins.slack_url, [(ONE_ALIAS, alias_map()[ONE_ALIAS])])
    floor = bench.floor("same-job")
    servers = [(LABELS[b.database], b.url, b.child.pid) for b in bots]
    servers.append((FLOOR_LABELS["same-job"], floor.url, floor.child.pid))
    rows: list[list[object]] = []
    samples: list[str] = []
    try:
        bench.standins.configure(ace_latency=o.burst_latency, slack_latency=o.slack_latency)
        for label, url, pid in servers:
            r: dict[str, Any] = bench.level(
                url, pid, [ONE_ALIAS], o.burst_size, mode="burst", warmup=20
            )
            rows.append(
                [
                    label,
                    r["sent"],
                    r["cards"],
                    r["timeout"],
                    r["busy"],
                    r["errors"],
                    r["lost"],
                    r["ack_p50_ms"],
                    r["ack_max_ms"],
                    r["last_card_s"],
                    round(r["server_cpu_ms_per_req"], 2),
                ]
            )
            samples += [f"- {label}: {s}" for s in r["error_samples"]]
    finally:
        bench.normal_latency()
    for bot in bots:
        bot.child.stop()
    bench.stop_floors("after (b)")
    legend = (
        f"{o.burst_size} requests sent at once (one connection each) after a warm-up of 20; "
        f"Ace Data Cloud stand-in latency {o.burst_latency:g} s per call, Slack "
        f"{o.slack_latency * 1000:g} ms. last card = from the burst to the last card."
    )
    parts = [legend, table(HEADERS, rows)]
    if samples:
        parts.append("What the users were told besides cards:\n\n" + "\n".join(samples))
    bench.report.section(
        f"(b) {o.burst_size} at once, upstream {o.burst_latency:g} s", "\n\n".join(parts)
    )
