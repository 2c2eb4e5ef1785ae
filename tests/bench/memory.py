"""Scenario (d): peak RSS of the web processes after (a) and of the worker after (c)."""

from __future__ import annotations

from .harness import Bench
from .report import table


def memory_table(bench: Bench) -> None:
    """The peaks recorded by the scenarios run so far, with the floors' and stand-ins'."""
    rows = [[m.process, m.when, m.peak_mib] for m in bench.memory]
    rows.append(["stand-ins", "at the end", bench.standins.child.peak_rss_mib()])
    bench.report.section(
        "(d) Peak RSS (VmHWM)",
        "Read from /proc/<pid>/status of each process before it was stopped.\n\n"
        + table(["process", "when", "peak RSS MiB"], rows),
    )
