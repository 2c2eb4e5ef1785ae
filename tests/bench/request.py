"""Scenario (a): `/quota <alias>` under closed-loop load, level by level, bot and floors
interleaved (bot, floors, next level…) so machine noise hits them alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from .common import ONE_ALIAS, SPREAD, alias_map, spread_alias
from .harness import FLOOR_LABELS, LABELS, Bench, MemoryRow
from .report import fmt, ratio, table
from .servers import Bot, count_rows, execute
from .setup import link_aliases

VARIANTS: dict[str, list[str]] = {
    "one alias": [ONE_ALIAS],
    f"{SPREAD} aliases of {SPREAD} applications": [spread_alias(i) for i in range(SPREAD)],
}
HEADERS = [
    "conc.",
    "server",
    "acks/s",
    "ack p50 ms",
    "ack p99 ms",
    "ack max ms",
    "cards/s",
    "drain s",
    "CPU ms/req",
    "CPU ms/card",
    "sent",
    "cards",
    "busy",
    "timeout",
    "errors",
    "lost",
    "history rows",
    "stand-ins CPU %",
    "load-gen CPU %",
]


def run(bench: Bench, *, levels: list[int], variants: list[str] | None = None) -> None:
    for variant in variants or list(VARIANTS):
        _variant(bench, variant, VARIANTS[variant], levels)


def _variant(bench: Bench, variant: str, texts: list[str], levels: list[int]) -> None:
    slug = "one" if len(texts) == 1 else "spread"
    bots = [bench.start_bot(f"bot-{target.kind}-{slug}", target) for target in bench.targets]
    aliases = alias_map()
    for bot in bots:
        link_aliases(bot.url, bench.standins.slack_url, [(a, aliases[a]) for a in texts])
    floors = [bench.floor("same-job"), bench.floor("bare")]
    rows: list[tuple[int, str, dict[str, Any]]] = []
    troubles: list[str] = []
    requests = dict.fromkeys((bot.name for bot in bots), len(texts))
    bench.normal_latency()
    for concurrency in levels:
        for bot in bots:
            if not bench.options.keep_history and not _empty_history(bot):
                troubles.append(
                    f"- conc. {concurrency}, {LABELS[bot.database]}: could not empty "
                    "the history first (its database stayed locked for 10 s)"
                )
            result = bench.level(bot.url, bot.child.pid, texts, concurrency)
            result["history"] = count_rows(bot.database_url, "observations")
            requests[bot.name] += result["sent"] + result["warmup"]
            rows.append((concurrency, LABELS[bot.database], result))
        for floor in floors:
            result = bench.level(floor.url, floor.child.pid, texts, concurrency)
            rows.append((concurrency, FLOOR_LABELS[floor.kind], result))
    for bot in bots:
        bench.memory.append(
            MemoryRow(
                f"web: {LABELS[bot.database]}", f"after (a) {variant}", bot.child.peak_rss_mib()
            )
        )
    notes = [_log_note(bot, requests[bot.name]) for bot in bots]
    for bot in bots:
        bot.child.stop()
    bench.stop_floors(f"after (a) {variant}")
    bench.report.section(
        f"(a) `/quota <alias>`, closed loop — {variant}",
        "\n\n".join(
            [
                _legend(bench),
                table(HEADERS, [_row(c, label, r) for c, label, r in rows]),
                _ratios(rows),
                *_remarks(rows),
                *troubles,
                *notes,
            ]
        ),
    )


def _legend(bench: Bench) -> str:
    o = bench.options
    return (
        f"{o.duration:g} s per level after a warm-up of max(20, 2xconc.) requests whose cards are "
        f"waited for and discarded; Ace Data Cloud stand-in latency {o.ace_latency * 1000:g} ms, "
        f"Slack {o.slack_latency * 1000:g} ms. acks/s counts acks over the load; cards/s counts "
        "cards from the start of the load to the last card; drain = last ack → last card; CPU is "
        "the server process's user+system time from the start of the load until its cards "
        "drained, per request sent (a 'busy' answer costs little) and per card delivered. "
        "history rows = the bot's `observations` after the level"
        + (" (emptied before each level)." if not o.keep_history else " (kept across levels).")
    )


def _row(concurrency: int, label: str, r: dict[str, Any]) -> list[object]:
    return [
        concurrency,
        label,
        r["acks_per_s"],
        r["ack_p50_ms"],
        r["ack_p99_ms"],
        r["ack_max_ms"],
        r["cards_per_s"],
        r["drain_s"],
        round(r["server_cpu_ms_per_req"], 2),
        r["server_cpu_ms_per_card"],
        r["sent"],
        r["cards"],
        r["busy"],
        r["timeout"],
        r["errors"],
        r["lost"],
        r.get("history"),
        r["standins_cpu_pct"],
        r["loadgen_cpu_pct"],
    ]


def _ratios(rows: list[tuple[int, str, dict[str, Any]]]) -> str:
    by_level: dict[int, dict[str, dict[str, Any]]] = {}
    for concurrency, label, result in rows:
        by_level.setdefault(concurrency, {})[label] = result
    out = []
    for concurrency, results in by_level.items():
        same, bare = results[FLOOR_LABELS["same-job"]], results[FLOOR_LABELS["bare"]]
        for label, r in results.items():
            if label.startswith("bot"):
                out.append(
                    [
                        concurrency,
                        label,
                        ratio(r["acks_per_s"], same["acks_per_s"]),
                        ratio(r["cards_per_s"], same["cards_per_s"]),
                        ratio(r["ack_p99_ms"], same["ack_p99_ms"]),
                        ratio(r["server_cpu_ms_per_req"], same["server_cpu_ms_per_req"]),
                        ratio(r["acks_per_s"], bare["acks_per_s"]),
                        ratio(r["cards_per_s"], bare["cards_per_s"]),
                        ratio(r["server_cpu_ms_per_req"], bare["server_cpu_ms_per_req"]),
                    ]
                )
    headers = [
        "conc.",
        "server",
        "acks/s ÷ same job",
        "cards/s ÷ same job",
        "ack p99 ÷ same job",
        "CPU/req ÷ same job",
        "acks/s ÷ bare",
        "cards/s ÷ bare",
        "CPU/req ÷ bare",
    ]
    return "Ratios (bot ÷ floor, same level):\n\n" + table(headers, out)


def _remarks(rows: list[tuple[int, str, dict[str, Any]]]) -> list[str]:
    """What a reader must know to trust a row: error texts, late signing, a busy load-gen."""
    remarks = []
    for concurrency, label, r in rows:
        where = f"conc. {concurrency}, {label}"
        if r["error_samples"]:
            remarks.append(f"- {where}: errors/timeouts said: " + "; ".join(r["error_samples"]))
        if r["signed_late"]:
            remarks.append(f"- {where}: {r['signed_late']} requests were signed during the load")
        if r["loadgen_cpu_pct"] > 80:
            remarks.append(
                f"- {where}: the load generator used {fmt(r['loadgen_cpu_pct'])} % of a core; "
                "it may have been the limit"
            )
        if r["standins_cpu_pct"] > 50:
            remarks.append(f"- {where}: stand-ins used {fmt(r['standins_cpu_pct'])} % of a core")
    return ["Remarks:\n\n" + "\n".join(remarks)] if remarks else []


def _empty_history(bot: Bot) -> bool:
    """Empty the bot's quota history between levels (it is idle then); False if the database
    refused for 10 s (a lock the bot holds, which the report must show)."""
    try:
        execute(bot.database_url, "DELETE FROM observations")
    except OperationalError:
        return False
    return True


def _log_note(bot: Bot, requests: int) -> str:
    try:
        lines = bot.child.log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    access = sum(1 for line in lines if "uvicorn.access" in line)
    return (
        f"{LABELS[bot.database]} wrote {len(lines):,} log lines ({access:,} uvicorn access lines) "
        f"for about {requests:,} requests."
    )
