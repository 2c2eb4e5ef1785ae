"""What every scenario shares: options, the long-lived processes, running one load level."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import CHANNEL, MEMBER, REPO, SIGNING_SECRET, TEAM_ID
from .loadgen import Spec, spec_json
from .report import Report
from .servers import (
    Bot,
    Child,
    DatabaseTarget,
    Floor,
    StandinsProcess,
    start_bot,
    start_floor,
    start_standins,
)

LABELS = {"sqlite": "bot (SQLite)", "postgresql": "bot (PostgreSQL)"}
FLOOR_LABELS = {"same-job": "floor: same job", "bare": "floor: bare"}


@dataclass
class Options:
    quick: bool
    duration: float
    levels: list[int]
    ace_latency: float
    slack_latency: float
    postgres_url: str | None
    digest_sizes: list[int]
    digest_timeout: float
    burst_size: int
    burst_latency: float
    keep_history: bool
    keep_logs: bool
    out: Path | None


@dataclass
class MemoryRow:
    process: str
    when: str
    peak_mib: float | None


@dataclass
class Bench:
    options: Options
    report: Report
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="quota-bench-")))
    memory: list[MemoryRow] = field(default_factory=list)
    floors: dict[str, Floor] = field(default_factory=dict)
    _children: list[Child] = field(default_factory=list)
    _standins: StandinsProcess | None = None
    _runs: itertools.count[int] = field(default_factory=itertools.count)
    targets: list[DatabaseTarget] = field(init=False)

    @property
    def standins(self) -> StandinsProcess:
        if self._standins is None:
            self._standins = start_standins(self.workdir)
            self._children.append(self._standins.child)
            self.normal_latency()
        return self._standins

    def normal_latency(self) -> None:
        self.standins.configure(
            ace_latency=self.options.ace_latency, slack_latency=self.options.slack_latency
        )

    def __post_init__(self) -> None:
        self.targets = [DatabaseTarget("sqlite", workdir=self.workdir)]
        if self.options.postgres_url:
            self.targets.append(
                DatabaseTarget("postgresql", self.options.postgres_url, self.workdir)
            )

    def floor(self, kind: str) -> Floor:
        if kind not in self.floors:
            self.floors[kind] = start_floor(kind, self.standins, self.workdir)
            self._children.append(self.floors[kind].child)
        return self.floors[kind]

    def stop_floors(self, when: str) -> None:
        """Stop the floors (a scenario's backlog must not spill into the next), noting their
        peak RSS."""
        for kind, floor in self.floors.items():
            self.memory.append(MemoryRow(FLOOR_LABELS[kind], when, floor.child.peak_rss_mib()))
            floor.child.stop()
        self.floors.clear()

    def start_bot(self, name: str, target: DatabaseTarget) -> Bot:
        bot = start_bot(name, target, self.standins, self.workdir)
        self._children.append(bot.child)
        return bot

    def level(
        self,
        url: str,
        server_pid: int,
        texts: list[str],
        concurrency: int,
        *,
        mode: str = "closed",
        warmup: int | None = None,
    ) -> dict[str, Any]:
        """One load level from a fresh load-generator process; its JSON result."""
        run_id = f"r{next(self._runs)}"
        spec = Spec(
            url=url,
            slack_url=self.standins.slack_url,
            secret=SIGNING_SECRET,
            team=TEAM_ID,
            channel=CHANNEL,
            user=MEMBER,
            texts=texts,
            run_id=run_id,
            concurrency=concurrency,
            duration=self.options.duration,
            warmup=max(20, 2 * concurrency) if warmup is None else warmup,
            mode=mode,
            server_pid=server_pid,
            standins_pid=self.standins.child.pid,
        )
        done = subprocess.run(
            [sys.executable, "-m", "tests.bench.loadgen", spec_json(spec)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=self.options.duration + 600,
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise RuntimeError(f"the load generator failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["warmup"] = spec.warmup
        return result

    def close(self) -> None:
        for child in reversed(self._children):
            child.stop()
        if self.options.keep_logs:
            print(f"\nLogs and databases kept in {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
