"""Names, identifiers and /proc readings shared by every process of the benchmark."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SIGNING_SECRET = "bench-signing-secret-8f14e45fceea167a5a36dedd4bea2543"
BOT_TOKEN = "xoxb-bench-0001"
PLATFORM_TOKEN = "platform-v1-" + "be9c" * 16
# The workspace the Slack stand-in's `auth.test` names; commands must come from it.
TEAM_ID = "TBENCH001"
BOT_USER_ID = "UBENCHBOT"
ADMIN = "UBENCHADMIN"  # users.info says is_admin
MEMBER = "UBENCHUSER"  # the user who types /quota <alias> under load
CHANNEL = "CBENCH001"

ONE_ALIAS = "prod"
SPREAD = 100  # aliases (and applications) of the spread variant


def app_id(index: int) -> str:
    """A distinct, well-formed application UUID for each index."""
    return f"{index:08x}-5e4f-4a3b-8c2d-{index:012x}"


def spread_alias(index: int) -> str:
    return f"a{index:03d}"


def alias_map() -> dict[str, str]:
    """Every alias the request scenarios use, and its application (the floors' "database")."""
    return {ONE_ALIAS: app_id(0)} | {spread_alias(i): app_id(i) for i in range(SPREAD)}


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a server may fork workers: WEB_CONCURRENCY)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                queue += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live descendants."""
    total = 0.0
    for member in descendants(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total


def tree_peak_rss_mib(pid: int) -> float | None:
    """The sum of VmHWM over `pid` and its descendants (one process: its own peak)."""
    peaks = [vm_hwm_mib(member) for member in descendants(pid)]
    known = [peak for peak in peaks if peak is not None]
    return sum(known) if known else None


def vm_hwm_mib(pid: int | str = "self") -> float | None:
    """Peak resident set size (VmHWM) of `pid` in MiB; None if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    """A loopback port nobody listens on right now (a tiny race with other programs is fine)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def now() -> float:
    """The clock every process of the bench records with: CLOCK_MONOTONIC is system-wide on
    Linux, so times taken in different processes compare directly."""
    return time.monotonic()
