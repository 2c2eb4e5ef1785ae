"""The load generator: its own process, asyncio and aiohttp, one pooled connection per worker.

`python -m tests.bench.loadgen '<spec JSON>'` runs one level against one server and prints one
JSON object. A level is: a short warm-up (its cards waited for, then discarded), signing the
measured requests in advance, the timed load (closed loop for `duration` seconds, or `burst`:
every request at once), then waiting for the cards to drain, and accounting for every request
(card, busy, upstream timeout, error, or lost).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from .common import cpu_seconds, now, tree_cpu_seconds
from .signing import CommandSigner, Signed
from .standins import classify

MAX_PRESIGNED = 120_000
MIN_PRESIGN_RATE = 1_500  # requests/s assumed at least when signing in advance


@dataclass
class Spec:
    url: str  # the server's /slack/events
    slack_url: str  # the Slack stand-in's base URL (response_url and control)
    secret: str
    team: str
    channel: str
    user: str
    texts: list[str]  # request i sends texts[i % len(texts)]
    run_id: str
    concurrency: int
    duration: float
    warmup: int
    mode: str  # "closed" or "burst"
    server_pid: int
    standins_pid: int
    drain_stall: float = 15.0  # give up waiting when no card arrived for this long
    drain_cap: float = 120.0


@dataclass
class Record:
    key: str
    sent: float
    acked: float
    status: int  # -1: no HTTP answer
    body: bytes
    error: str = ""


async def post(http: aiohttp.ClientSession, url: str, item: Signed) -> Record:
    started = now()
    try:
        async with http.post(url, data=item.body, headers=item.headers) as response:
            body = await response.read()
            return Record(item.key, started, now(), response.status, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Record(item.key, started, now(), -1, b"", type(exc).__name__)


async def closed_loop(
    http: aiohttp.ClientSession,
    url: str,
    supply: Callable[[], Signed | None],
    concurrency: int,
    deadline: float,
) -> list[Record]:
    """`concurrency` workers, each sending its next request as soon as the last is acked,
    until `deadline` or until `supply` runs dry."""
    records: list[Record] = []

    async def worker() -> None:
        while now() < deadline:
            item = supply()
            if item is None:
                return
            records.append(await post(http, url, item))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


class Control:
    """The stand-ins' control endpoints."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self._http = http
        self._base = base.rstrip("/")

    async def count(self, prefix: str) -> int:
        async with self._http.get(f"{self._base}/_bench/count", params={"prefix": prefix}) as r:
            return int((await r.json())["count"])

    async def arrivals(self, prefix: str) -> dict[str, tuple[float, str, str]]:
        async with self._http.get(f"{self._base}/_bench/arrivals", params={"prefix": prefix}) as r:
            found = (await r.json())["arrivals"]
        return {key: (at, kind, snippet) for key, at, kind, snippet in found}

    async def drain(self, prefix: str, expected: int, *, stall: float, cap: float) -> int:
        """Wait until `expected` keys under `prefix` got a message, or nothing new came for
        `stall` seconds, or `cap` passed; how many did."""
        started = last_change = now()
        seen = -1
        while True:
            count = await self.count(prefix)
            if count != seen:
                seen, last_change = count, now()
            if count >= expected or now() - last_change > stall or now() - started > cap:
                return count
            await asyncio.sleep(0.05)


def _percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def _ack_kind(record: Record) -> str:
    """`pending` (an empty ack: the answer comes to the response_url) or what the ack said."""
    if record.status != 200:
        return "error"
    if not record.body:
        return "pending"
    try:
        message = json.loads(record.body)
    except ValueError:
        return "error"
    return classify(message) if isinstance(message, dict) else "error"


def account(
    records: list[Record], arrivals: dict[str, tuple[float, str, str]], started: float
) -> dict[str, Any]:
    """Every request as exactly one of card, busy, timeout, error or lost, with the timings."""
    kinds: Counter[str] = Counter()
    samples: Counter[str] = Counter()
    card_times: list[float] = []
    for record in records:
        kind = _ack_kind(record)
        if kind == "pending":
            arrival = arrivals.get(record.key)
            if arrival is None:
                kinds["lost"] += 1
                continue
            at, kind, snippet = arrival
            if kind == "card":
                card_times.append(at)
            elif kind != "busy":
                samples[snippet] += 1
        elif kind == "card":
            card_times.append(record.acked)
        elif kind == "error":
            said = record.body[:100].decode(errors="replace")
            what = record.error or f"HTTP {record.status}: {said}"
            samples[what] += 1
        kinds[kind] += 1
    acks = sorted(r.acked - r.sent for r in records if r.status == 200)
    last_ack = max((r.acked for r in records), default=started)
    last_card = max(card_times, default=None)
    return {
        "sent": len(records),
        "acked": len(acks),
        "acks_per_s": len(acks) / (last_ack - started) if acks else 0.0,
        "ack_p50_ms": _percentile(acks, 0.50) * 1000,
        "ack_p99_ms": _percentile(acks, 0.99) * 1000,
        "ack_max_ms": (acks[-1] if acks else float("nan")) * 1000,
        "cards": len(card_times),
        "cards_per_s": len(card_times) / (last_card - started) if last_card else 0.0,
        "last_card_s": (last_card - started) if last_card else None,
        "drain_s": max(0.0, last_card - last_ack) if last_card else None,
        "load_s": last_ack - started,
        "busy": kinds["busy"],
        "timeout": kinds["timeout"],
        "errors": kinds["error"],
        "lost": kinds["lost"],
        "error_samples": [f"{count}x {text}" for text, count in samples.most_common(3)],
    }


class Supply:
    """Pre-signed requests, handed out in order; signed on the spot (and counted) if the
    estimate fell short, which the report then says."""

    def __init__(self, signer: CommandSigner, prefix: str, texts: list[str], count: int) -> None:
        self._signer = signer
        self._prefix = prefix
        self._texts = texts
        self._numbers: Iterator[int] = itertools.count()
        self._ready = [self._make(i) for i in range(count)]
        self.signed_late = 0

    def _make(self, i: int) -> Signed:
        return self._signer.sign(f"{self._prefix}{i}", self._texts[i % len(self._texts)])

    def take(self) -> Signed:
        i = next(self._numbers)
        if i < len(self._ready):
            return self._ready[i]
        self.signed_late += 1
        return self._make(i)


def _finite(
    signer: CommandSigner, prefix: str, texts: list[str], count: int
) -> Callable[[], Signed | None]:
    """`count` signed requests, then None (the warm-up)."""
    items = iter([signer.sign(f"{prefix}{i}", texts[i % len(texts)]) for i in range(count)])
    return lambda: next(items, None)


def _pool(concurrency: int) -> aiohttp.ClientSession:
    """A session with one pooled connection per concurrent client."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def run(spec: Spec) -> dict[str, Any]:
    signer = CommandSigner(
        secret=spec.secret,
        team=spec.team,
        channel=spec.channel,
        user=spec.user,
        response_base=spec.slack_url,
    )
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as control_http:
        control = Control(control_http, spec.slack_url)
        rate = 100.0
        if spec.warmup:
            warm_prefix = f"{spec.run_id}-w"
            began = now()
            async with _pool(spec.concurrency) as http:
                warm = await closed_loop(
                    http,
                    spec.url,
                    _finite(signer, warm_prefix, spec.texts, spec.warmup),
                    min(spec.concurrency, spec.warmup),
                    deadline=began + 60,
                )
            rate = max(rate, len(warm) / max(now() - began, 1e-3))
            pending = sum(1 for r in warm if _ack_kind(r) == "pending")
            await control.drain(warm_prefix, pending, stall=spec.drain_stall, cap=spec.drain_cap)
        prefix = f"{spec.run_id}-m"
        if spec.mode == "burst":
            count = spec.concurrency
        else:
            # A server that answers "busy" at once runs far faster than its warm-up did.
            estimate = max(rate, MIN_PRESIGN_RATE) * spec.duration * 3
            count = int(estimate) + 4 * spec.concurrency + 200
        supply = Supply(signer, prefix, spec.texts, min(count, MAX_PRESIGNED))
        # Fresh connections: the server may have closed the warm-up's idle ones meanwhile
        # (uvicorn keeps them 5 s), and a POST on a closed one fails without a retry.
        async with _pool(spec.concurrency) as http:
            cpu_server = tree_cpu_seconds(spec.server_pid)
            cpu_standins = cpu_seconds(spec.standins_pid)
            own = time.process_time()
            started = now()
            if spec.mode == "burst":
                items = [supply.take() for _ in range(spec.concurrency)]
                records = list(await asyncio.gather(*(post(http, spec.url, i) for i in items)))
            else:
                records = await closed_loop(
                    http, spec.url, supply.take, spec.concurrency, started + spec.duration
                )
            load_end = now()
        own_cpu = time.process_time() - own
        pending = sum(1 for r in records if _ack_kind(r) == "pending")
        await control.drain(prefix, pending, stall=spec.drain_stall, cap=spec.drain_cap)
        arrivals = await control.arrivals(prefix)
        finished = now()
        result = account(records, arrivals, started)
        server_cpu = tree_cpu_seconds(spec.server_pid) - cpu_server
        result |= {
            "server_cpu_ms_per_req": server_cpu * 1000 / max(1, len(records)),
            "server_cpu_ms_per_card": server_cpu * 1000 / result["cards"]
            if result["cards"]
            else None,
            "server_cpu_pct": server_cpu * 100 / (finished - started),
            "standins_cpu_pct": (cpu_seconds(spec.standins_pid) - cpu_standins)
            * 100
            / (finished - started),
            "loadgen_cpu_pct": own_cpu * 100 / max(load_end - started, 1e-3),
            "signed_late": supply.signed_late,
        }
        return result


def main() -> None:
    spec = Spec(**json.loads(sys.argv[1]))
    print(json.dumps(asyncio.run(run(spec))), flush=True)


def spec_json(spec: Spec) -> str:
    return json.dumps(asdict(spec))


if __name__ == "__main__":
    main()
