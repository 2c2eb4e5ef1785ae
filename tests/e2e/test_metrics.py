"""Prometheus metrics on METRICS_PORT: scraped over real HTTP after a card, a digest and an Ace
Data Cloud failure; nothing unbounded in a label; the listener never on the Slack port."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.db.database import DatabaseUnavailable
from bot.runtime import Runtime
from bot.slack.install.tokens import SlackAccess
from bot.worker import alert_round, run_scheduler
from tests.e2e.test_digests import round_at, schedule_directly
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    FORM,
    MEMBER,
    PLATFORM_TOKEN,
    BotClient,
    FakeApplication,
    answer_with,
    cli_environment,
)
from tests.support.server import BOT_TOKEN, SIGNING_SECRET
from tests.support.slack_server import TEAM_ID

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def scrape() -> Iterator[Callable[[], tuple[str, Samples]]]:
    """The metrics listener as `quota-bot` starts it, and a GET of its /metrics."""
    port = free_port()
    server = metrics.serve("127.0.0.1", port)
    assert server is not None

    def get() -> tuple[str, Samples]:
        # Not through httpx, which respx holds for Ace Data Cloud.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return text, samples

    yield get
    server.shutdown()
    server.server_close()


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_a_card_is_counted_timed_and_its_read_counted_ok(
    linked: BotClient, scrape: Callable[[], tuple[str, Samples]]
) -> None:
    _, before = scrape()
    reply = await linked.quota("prod", user=MEMBER)
    await linked.settle()
    text, after = scrape()

    assert reply is not None and not reply.via_ack and "Midjourney" in reply.text
    assert grew(before, after, "quota_bot_requests_total", kind="command", outcome="acked") == 1
    assert grew(before, after, "quota_bot_ack_seconds_count", kind="command") == 1
    assert grew(before, after, "quota_bot_card_seconds_count") == 1
    assert grew(before, after, "quota_bot_card_seconds_bucket", le="30.0") == 1
    ok = {"endpoint": "application", "outcome": "ok"}
    assert grew(before, after, "quota_bot_acedata_calls_total", **ok) >= 1
    assert grew(before, after, "quota_bot_acedata_call_seconds_count", endpoint="application") >= 1
    # Nothing a workspace or its users chose is a label value.
    for unbounded in (TEAM_ID, CHANNEL, MEMBER, ADMIN, APP_ID, "prod", PLATFORM_TOKEN, BOT_TOKEN):
        assert unbounded not in text


FAILURES = {
    "500": (httpx.Response(500, json={"detail": "Boom"}), "server_error"),
    "timeout": (httpx.ReadTimeout("read timed out"), "timeout"),
    "401": (httpx.Response(401, json={"detail": "Bad token"}), "invalid_token"),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
async def test_an_acedata_failure_is_counted_with_its_outcome(
    linked: BotClient,
    acedata: respx.MockRouter,
    scrape: Callable[[], tuple[str, Samples]],
    failure: tuple[httpx.Response | Exception, str],
) -> None:
    answer, outcome = failure
    answer_with(acedata.get(f"/applications/{APP_ID}"), answer)
    _, before = scrape()
    await linked.quota("prod", user=MEMBER)
    await linked.settle()
    _, after = scrape()

    failed = {"endpoint": "application", "outcome": outcome}
    assert grew(before, after, "quota_bot_acedata_calls_total", **failed) >= 1
    assert (
        grew(before, after, "quota_bot_acedata_calls_total", endpoint="application", outcome="ok")
        == 0
    )
    # The user was still answered, in time.
    assert grew(before, after, "quota_bot_requests_total", kind="command", outcome="acked") == 1


async def test_a_digest_round_counts_the_digest_sent(
    linked: BotClient, scrape: Callable[[], tuple[str, Samples]]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    due = await schedule_directly(linked, CHANNEL, now=now)
    _, before = scrape()
    assert await round_at(linked, due + timedelta(seconds=5)) == 1
    text, after = scrape()

    assert grew(before, after, "quota_bot_digests_total", outcome="sent") == 1
    assert grew(before, after, "quota_bot_digests_total", outcome="failed") == 0
    assert grew(before, after, "quota_bot_digest_delay_seconds_count") == 1
    posted = {"method": "chat.postMessage", "outcome": "ok"}
    assert grew(before, after, "quota_bot_slack_calls_total", **posted) >= 1
    assert grew(before, after, "quota_bot_slack_call_seconds_count", method="chat.postMessage") >= 1
    assert TEAM_ID not in text and CHANNEL not in text


async def test_a_replayed_command_is_counted_as_a_replay(
    linked: BotClient, scrape: Callable[[], tuple[str, Samples]]
) -> None:
    body = urlencode(linked.command_fields("help", user=MEMBER))
    headers = linked.signed_headers(body)
    _, before = scrape()
    assert (await linked.post(body, headers, FORM))[0] == 200
    assert (await linked.post(body, headers, FORM))[0] == 200
    await linked.settle()
    _, after = scrape()
    assert grew(before, after, "quota_bot_requests_total", kind="command", outcome="replay") == 1


# ---------------------------------------------------------------------------------------------
# The listener of a real `quota-bot serve`


def start_serve(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    settings = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN} | env
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=cli_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_healthy(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the bot never answered /healthz")


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    output, _ = process.communicate(timeout=20)
    return output


def test_serve_exposes_metrics_on_their_own_port_only(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    process = start_serve(tmp_path, PORT=str(port), METRICS_PORT=str(metrics_port))
    try:
        wait_until_healthy(port)
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        public = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        output = stop(process)
    assert scraped.status_code == 200
    assert "quota_bot_in_flight" in scraped.text
    assert public.status_code == 404  # never on the Slack port
    assert f"Serving metrics on http://127.0.0.1:{metrics_port}/metrics" in output
    assert "Traceback" not in output


def test_without_metrics_port_there_is_no_listener(tmp_path: Path) -> None:
    port = free_port()
    process = start_serve(tmp_path, PORT=str(port))
    try:
        wait_until_healthy(port)
    finally:
        output = stop(process)
    assert "metrics" not in output.lower()


def test_a_metrics_port_in_use_is_one_line_and_the_bot_serves_on(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        process = start_serve(tmp_path, PORT=str(port), METRICS_PORT=str(busy))
        try:
            wait_until_healthy(port)
        finally:
            output = stop(process)
    lines = [line for line in output.splitlines() if "METRICS_PORT" in line]
    assert len(lines) == 1
    assert f"METRICS_PORT {busy} on 127.0.0.1 is in use" in lines[0]
    assert "metrics are not served by this process" in lines[0]
    assert "Traceback" not in output


@pytest.mark.parametrize("bad", ["70000", "0", "metrics"])
def test_a_bad_metrics_port_is_one_config_line(tmp_path: Path, bad: str) -> None:
    settings = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=cli_environment(settings | {"METRICS_PORT": bad, "PORT": str(free_port())}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if "See .env.example" not in line]
    assert len(problems) == 1
    assert problems[0].startswith("quota-bot: METRICS_PORT is invalid")
    assert "Traceback" not in result.stderr


def test_web_concurrency_serves_the_sum_of_its_processes(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    process = start_serve(
        tmp_path, PORT=str(port), METRICS_PORT=str(metrics_port), WEB_CONCURRENCY="2"
    )
    try:
        wait_until_healthy(port)
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    finally:
        output = stop(process)
    assert scraped.status_code == 200
    assert "quota_bot_in_flight" in scraped.text
    assert "(2 processes)" in output
    assert "Traceback" not in output


async def test_socket_mode_counts_its_requests_and_cards(
    tmp_path: Path, database_url: str, encryption_key: str
) -> None:
    from tests.e2e.test_socket_mode import socket_bot

    metrics_port = free_port()
    extra = {"METRICS_PORT": str(metrics_port)}
    async with socket_bot(tmp_path, database_url, encryption_key, extra) as bot:
        await bot.link_prod()
        envelope_id, key = await bot.command("prod", user=MEMBER)
        await bot.sockets.wait_for_ack(envelope_id, timeout=3)
        await bot.slack.wait_for_response(key, timeout=10)
        await asyncio.sleep(0.2)  # the card's timing is recorded as Slack answers the post
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }
    assert value(samples, "quota_bot_requests_total", kind="command", outcome="acked") == 2
    assert value(samples, "quota_bot_ack_seconds_count", kind="command") == 2
    assert value(samples, "quota_bot_card_seconds_count") == 2  # the link's answer, the card
    ok = {"endpoint": "application", "outcome": "ok"}
    assert value(samples, "quota_bot_acedata_calls_total", **ok) >= 1


async def test_an_alert_posted_is_counted_by_its_level(
    linked: BotClient, acedata: respx.MockRouter, scrape: Callable[[], tuple[str, Samples]]
) -> None:
    app = FakeApplication(acedata)
    app.latency = 0
    reply = await linked.quota("alert prod below 100", user=ADMIN)
    assert reply is not None and "Alert set" in reply.text
    app.remaining = 0
    _, before = scrape()
    assert linked.runtime is not None
    access = SlackAccess.open(linked.runtime, retry_seconds=0)
    await alert_round(linked.runtime, access, now=datetime.now(UTC) + timedelta(minutes=1))
    text, after = scrape()

    # Out, with the fallback off: its calls are failing.
    failing = {"kind": "quota", "level": "failing"}
    assert grew(before, after, "quota_bot_alerts_posted_total", **failing) == 1
    assert grew(before, after, "quota_bot_alerts_failed_total", kind="quota") == 0
    assert "prod" not in text and CHANNEL not in text


async def test_each_scheduler_loop_records_when_its_last_round_finished(
    bot: BotClient, scrape: Callable[[], tuple[str, Samples]]
) -> None:
    assert bot.runtime is not None
    started = time.time()
    stop = asyncio.Event()
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    scheduler = asyncio.create_task(run_scheduler(bot.runtime, access, stop=stop))
    try:
        for _ in range(200):
            _, samples = scrape()
            rounds = [
                value(samples, "quota_bot_scheduler_last_round_timestamp_seconds", loop=loop)
                for loop in ("digests", "alerts")
            ]
            if min(rounds) >= started:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await scheduler
    assert all(started <= at <= time.time() for at in rounds), rounds


async def test_a_database_unit_past_its_deadline_is_counted_as_a_timeout(
    runtime: Runtime, scrape: Callable[[], tuple[str, Samples]]
) -> None:
    async def slow(session: object) -> None:
        await asyncio.sleep(1)

    _, before = scrape()
    with pytest.raises(DatabaseUnavailable):
        await runtime.db.run(slow, timeout=0.05)
    _, after = scrape()
    assert grew(before, after, "quota_bot_database_unavailable_total", reason="timeout") == 1
