"""Once a quota ran out, its alert says what that costs: the calls failed since, updated in
place on later checks (never re-posted), cleared when it comes back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import respx
from sqlalchemy import Engine, text

from bot.slack.install.tokens import SlackAccess
from bot.worker import alert_round
from tests.support.client import ADMIN, CHANNEL, BotClient, FakeApplication, blocks_of
from tests.support.slack_server import Call

START = datetime.now(UTC) + timedelta(minutes=1)


@pytest.fixture(autouse=True)
def start_now() -> None:
    """Rounds run from a minute after the test starts, not after the module was imported: the
    bot's own readings are stamped with the real time, minutes later in a whole-suite run."""
    global START
    START = datetime.now(UTC) + timedelta(minutes=1)


EVERY = timedelta(minutes=5)
TS = "1700000000.000200"  # the stand-in's ts for every post


async def check(bot: BotClient, at: datetime) -> int:
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    return await alert_round(bot.runtime, access, now=at)


def alert_posts(bot: BotClient) -> list[Call]:
    return [
        call
        for call in bot.slack.calls_to("chat.postMessage")
        if call.data.get("channel") == CHANNEL and "blocks" in call.data
    ]


def said(call: Call) -> str:
    return json.dumps(blocks_of(call))


class FailedCalls:
    """Ace Data Cloud's count of failing calls: the status codes seen, then the list's count."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.count = 41
        self.codes = router.get("/usage/apis/status-codes/").respond(json={"items": [200, 402]})
        self.listed = router.get("/usage/apis/", params__contains={"limit": "1"})
        self.listed.side_effect = lambda request: respx.MockResponse(
            json={"count": self.count, "items": []}
        )


async def ran_out(linked: BotClient, acedata: respx.MockRouter) -> FakeApplication:
    app = FakeApplication(acedata)
    app.latency = 0
    reply = await linked.quota("alert prod below 100", user=ADMIN)
    assert reply is not None and "Alert set" in reply.text
    await linked.settle()
    app.remaining = 0
    await check(linked, START)
    assert len(alert_posts(linked)) == 1
    return app


def outage(db: Engine) -> tuple[object, ...]:
    with db.connect() as connection:
        row = connection.execute(
            text("SELECT out_since IS NOT NULL, out_ts, out_failed_calls FROM quota_alerts")
        ).one()
    return tuple(row)


async def test_the_ran_out_message_is_updated_in_place_with_the_calls_failed_since(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    failed = FailedCalls(acedata)
    app = await ran_out(linked, acedata)
    assert outage(db) == (1, TS, None)
    assert linked.slack.calls_to("chat.update") == []

    await check(linked, START + EVERY)

    (update,) = linked.slack.calls_to("chat.update")
    assert (update.data["channel"], update.data["ts"]) == (CHANNEL, TS)
    assert "41 calls have failed since it ran out at <!date^" in said(update)
    assert "calls now fail" in update.data["text"]
    assert len(alert_posts(linked)) == 1  # never re-posted
    assert outage(db) == (1, TS, 41)
    sent = failed.listed.calls.last.request.url.params
    assert sent.get_list("status_code") == ["402"]

    await check(linked, START + 2 * EVERY)  # the same count: left as it is
    assert len(linked.slack.calls_to("chat.update")) == 1
    failed.count = 45
    await check(linked, START + 3 * EVERY)
    assert len(linked.slack.calls_to("chat.update")) == 2
    assert "45 calls have failed" in said(linked.slack.calls_to("chat.update")[-1])
    assert len(alert_posts(linked)) == 1

    app.remaining = 500  # topped up: back, and the outage forgotten
    await check(linked, START + 4 * EVERY)
    assert "is back" in alert_posts(linked)[-1].data["text"]
    assert outage(db) == (0, None, None)


async def test_a_count_or_an_update_that_fails_is_tried_again_and_never_fails_the_check(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    failed = FailedCalls(acedata)
    app = await ran_out(linked, acedata)
    failed.codes.respond(503, json={"detail": "busy"})

    await check(linked, START + EVERY)
    assert linked.slack.calls_to("chat.update") == []
    assert outage(db) == (1, TS, None)

    failed.codes.respond(json={"items": [402]})
    linked.slack.failures["chat.update"] = "internal_error"
    await check(linked, START + 2 * EVERY)
    assert len(linked.slack.calls_to("chat.update")) == 1
    assert outage(db) == (1, TS, None)  # not shown: not remembered as shown

    del linked.slack.failures["chat.update"]
    await check(linked, START + 3 * EVERY)
    assert len(linked.slack.calls_to("chat.update")) == 2
    assert outage(db) == (1, TS, 41)

    # Deleted meanwhile: tried once, then left alone.
    failed.count = 50
    linked.slack.failures["chat.update"] = "message_not_found"
    for step in (4, 5):
        await check(linked, START + step * EVERY)
    assert len(linked.slack.calls_to("chat.update")) == 3
    assert outage(db) == (1, None, None)

    # The alert itself still works: back, then out again, it says so.
    app.remaining = 500
    await check(linked, START + 6 * EVERY)
    app.remaining = 0
    await check(linked, START + 7 * EVERY)
    assert "calls now fail" in alert_posts(linked)[-1].data["text"]
    assert len(alert_posts(linked)) == 3
