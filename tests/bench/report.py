"""The report: markdown tables, printed as each is ready, optionally written to a file."""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .common import REPO


def fmt(value: object, digits: int = 1) -> str:
    """A table cell: numbers rounded, missing values as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "—"
    return f"{numerator / denominator:.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[fmt(cell) for cell in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _redacted(arg: str) -> str:
    """A command-line word as the report may show it: a database URL without its password."""
    if "://" not in arg:
        return arg
    try:
        return make_url(arg).render_as_string(hide_password=True)
    except ArgumentError:
        return arg


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _git_version() -> str:
    try:
        found = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return found.stdout.strip() or "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Report:
    def __init__(self, settings: list[str]) -> None:
        started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "python -m tests.bench " + " ".join(_redacted(arg) for arg in sys.argv[1:])
        self.parts: list[str] = [
            "# Quota Bot benchmark",
            "",
            f"- command: `{command}`",
            f"- date: {started}; code: `{_git_version()}` (working tree as it was)",
            f"- machine: {os.cpu_count()} cores ({_cpu_model()}), load average {load_average()}"
            f" at start; Python {platform.python_version()} on {platform.system()}",
            *[f"- {line}" for line in settings],
        ]
        print("\n".join(self.parts), flush=True)

    def section(self, title: str, body: str) -> None:
        text = f"\n## {title}\n\n{body}"
        self.parts.append(text)
        print(text, flush=True)

    def note(self, text: str) -> None:
        self.parts.append(text)
        print(text, flush=True)

    def text(self) -> str:
        return "\n".join(self.parts) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.text())
