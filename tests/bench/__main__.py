"""`python -m tests.bench all|request|burst|digest|memory [--quick] [--postgres URL] [--out F]`"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import burst, digest, request
from .harness import Bench, Options
from .memory import memory_table
from .report import Report

LEVELS = [1, 5, 20, 50, 200]
DIGEST_SIZES = [100, 1_000, 10_000]
QUICK_DIGEST_SIZES = [100, 1_000]


def _numbers(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse(argv: list[str]) -> tuple[str, Options]:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("scenario", choices=["all", "request", "burst", "digest", "memory"])
    parser.add_argument("--quick", action="store_true", help="2 s per level, digests 100 and 1,000")
    parser.add_argument("--duration", type=float, help="seconds per load level (default 10)")
    parser.add_argument("--levels", type=_numbers, help="concurrency levels, e.g. 1,5,20,50,200")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL"),
        help="PostgreSQL URL to run the bot on too (its public schema is dropped and recreated "
        "per run); default $BENCH_POSTGRES_URL; without it the PostgreSQL rows are skipped",
    )
    parser.add_argument("--ace-latency", type=float, default=0.05, help="seconds (default 0.05)")
    parser.add_argument("--slack-latency", type=float, default=0.01, help="seconds (default 0.01)")
    parser.add_argument("--digest-sizes", type=_numbers, help="default 100,1000,10000")
    parser.add_argument("--digest-timeout", type=float, help="cap per digest run (default 300 s)")
    parser.add_argument("--burst-size", type=int, default=200)
    parser.add_argument("--burst-latency", type=float, default=1.0)
    parser.add_argument(
        "--keep-history",
        action="store_true",
        help="keep the bot's quota history across levels (default: emptied before each level)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep logs and databases")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    options = Options(
        quick=args.quick,
        duration=args.duration or (2.0 if args.quick else 10.0),
        levels=args.levels or LEVELS,
        ace_latency=args.ace_latency,
        slack_latency=args.slack_latency,
        postgres_url=args.postgres or None,
        digest_sizes=args.digest_sizes or (QUICK_DIGEST_SIZES if args.quick else DIGEST_SIZES),
        digest_timeout=args.digest_timeout or (60.0 if args.quick else 300.0),
        burst_size=args.burst_size,
        burst_latency=args.burst_latency,
        keep_history=args.keep_history,
        keep_logs=args.keep_logs,
        out=args.out,
    )
    return args.scenario, options


def main(argv: list[str] | None = None) -> None:
    scenario, options = parse(sys.argv[1:] if argv is None else argv)
    settings = [
        f"levels {options.levels}, {options.duration:g} s each"
        + (" (--quick)" if options.quick else ""),
        "databases: SQLite"
        + (
            " and PostgreSQL"
            if options.postgres_url
            else " only — no --postgres URL (or BENCH_POSTGRES_URL) given, so the PostgreSQL "
            "rows are skipped"
        ),
    ]
    report = Report(settings)
    bench = Bench(options, report)
    started = time.monotonic()
    try:
        if scenario in ("all", "request"):
            request.run(bench, levels=options.levels)
        if scenario in ("all", "burst"):
            burst.run(bench)
        if scenario in ("all", "digest"):
            digest.run(bench, sizes=options.digest_sizes)
        if scenario == "memory":
            variant = list(request.VARIANTS)[-1]
            request.run(bench, levels=[max(options.levels)], variants=[variant])
            digest.run(bench, sizes=[max(options.digest_sizes)])
        if scenario in ("all", "memory"):
            memory_table(bench)
    finally:
        bench.close()
        report.note(f"\nTotal wall time: {time.monotonic() - started:,.0f} s.")
        if options.out is not None:
            report.write(options.out)


if __name__ == "__main__":
    main()
