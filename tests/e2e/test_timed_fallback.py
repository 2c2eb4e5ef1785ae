"""Timed fallback: *Enable* for 1 hour, 4 hours or until 09:00 tomorrow; the card says until
when; the worker switches it back once across workers; a person's change cancels the timer."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from sqlalchemy import Engine, text

from bot.services import fallback_timers
from bot.slack.ids import TOGGLE_ACTION
from bot.slack.install.tokens import SlackAccess
from bot.worker import guard_round
from tests.support.client import ADMIN, CHANNEL, MEMBER, BotClient, FakeApplication
from tests.support.home import open_home, published

MESSAGE_TS = "1700000000.000100"


@pytest.fixture
def fake_app(linked: BotClient, acedata: respx.MockRouter) -> FakeApplication:
    return FakeApplication(acedata)


async def card_for(bot: BotClient) -> dict[str, Any]:
    reply = await bot.quota("prod", user=MEMBER)
    assert reply is not None
    return reply.body


async def enable(bot: BotClient, duration: str) -> dict[str, Any]:
    key = await bot.press_switch(await card_for(bot), TOGGLE_ACTION, user=ADMIN, duration=duration)
    updated = await bot.slack.wait_for_response(key)
    await bot.settle()
    return updated


def timers(db: Engine) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT application_id, channel_id, thread_ts, set_by, off_at FROM fallback_timers"
            )
        ).all()
    return [tuple(row) for row in rows]


def off_at_of(db: Engine) -> datetime:
    [(*_, value)] = timers(db)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def worker_round(bot: BotClient, at: datetime) -> int:
    assert bot.runtime is not None
    return await guard_round(bot.runtime, SlackAccess.open(bot.runtime, retry_seconds=0), now=at)


def notes(bot: BotClient) -> list[str]:
    return [
        call.data["text"]
        for call in bot.slack.calls_to("chat.postMessage")
        if call.data.get("thread_ts") == MESSAGE_TS
    ]


async def test_enabled_for_an_hour_the_card_says_until_when_and_the_worker_switches_back(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    started = datetime.now(UTC)
    updated = await enable(linked, "1h")

    assert fake_app.posts == [{"allow_consume_global": True}]
    assert "*Global fallback*\\nON until <!date^" in json.dumps(updated["blocks"])
    off_at = off_at_of(db)
    assert started + timedelta(minutes=59) < off_at < started + timedelta(minutes=61)
    assert timers(db)[0][:4] == (fake_app.app_id, CHANNEL, MESSAGE_TS, ADMIN)
    assert "(Quota Bot switches it back off then)" in notes(linked)[-1]

    assert await worker_round(linked, off_at - timedelta(seconds=1)) == 0
    assert fake_app.posts == [{"allow_consume_global": True}]

    assert await worker_round(linked, off_at + timedelta(seconds=1)) == 1
    assert fake_app.posts == [{"allow_consume_global": True}, {"allow_consume_global": False}]
    assert notes(linked)[-1] == (
        f":alarm_clock: Global fallback for *prod* is off again: the time <@{ADMIN}> set is up."
    )
    assert timers(db) == []
    with db.connect() as connection:
        detail = connection.execute(
            text("SELECT detail FROM audit_events WHERE action = 'fallback' ORDER BY id DESC")
        ).first()
    assert detail is not None and detail[0] == f"timer set by {ADMIN} ran out"
    assert await worker_round(linked, off_at + timedelta(hours=1)) == 0


async def test_two_workers_racing_on_one_timer_switch_back_once(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "4h")
    due = off_at_of(db) + timedelta(seconds=1)

    handled = await asyncio.gather(worker_round(linked, due), worker_round(linked, due))

    assert sorted(handled) == [0, 1]
    assert fake_app.posts.count({"allow_consume_global": False}) == 1
    assert sum("is off again" in note for note in notes(linked)) == 1


async def test_a_worker_that_died_holding_a_timer_is_taken_over_after_its_lease(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "1h")
    due = off_at_of(db) + timedelta(seconds=1)
    assert linked.runtime is not None
    claimed = await fallback_timers.claim_due(linked.runtime.db, now=due)  # then it died
    assert len(claimed) == 1

    assert await worker_round(linked, due + timedelta(minutes=1)) == 0  # still leased
    assert await worker_round(linked, due + fallback_timers.LEASE + timedelta(seconds=1)) == 1
    assert fake_app.posts.count({"allow_consume_global": False}) == 1
    assert timers(db) == []


async def test_a_manual_change_before_the_time_cancels_the_timer(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "1h")
    due = off_at_of(db) + timedelta(seconds=1)
    key = await linked.press_switch(await card_for(linked), TOGGLE_ACTION, user=ADMIN)
    await linked.slack.wait_for_response(key)
    assert timers(db) == []
    await enable(linked, "until_off")

    assert await worker_round(linked, due) == 0
    assert fake_app.posts[-1] == {"allow_consume_global": True}
    assert fake_app.allow is True
    assert timers(db) == []


async def test_enabling_again_for_longer_replaces_the_timer(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "1h")
    first = off_at_of(db)
    fake_app.allow = False  # switched off upstream, say in the console
    await enable(linked, "4h")

    assert off_at_of(db) - first > timedelta(hours=2, minutes=59)
    assert await worker_round(linked, first + timedelta(seconds=1)) == 0
    assert fake_app.allow is True


async def test_until_the_morning_uses_the_channels_digest_zone(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await linked.quota("digest daily 08:00 Asia/Shanghai", user=ADMIN)
    await enable(linked, "until_morning")

    off_at = off_at_of(db)
    local = off_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute) == (9, 0)
    now_local = datetime.now(UTC).astimezone(local.tzinfo)
    assert local.date() == now_local.date() + timedelta(days=1)


async def test_a_switch_back_ace_data_cloud_refuses_is_said_and_not_retried_forever(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "1h")
    due = off_at_of(db) + timedelta(seconds=1)
    fake_app.post_answer = httpx.Response(403, json={"detail": "Forbidden"})

    assert await worker_round(linked, due) == 1

    assert fake_app.allow is True
    assert notes(linked)[-1].startswith(
        f":warning: The time <@{ADMIN}> set for global fallback on *prod* is up, but switching "
        "it off did not work."
    )
    assert timers(db) == []


async def test_a_switch_back_that_may_pass_is_tried_again_after_the_lease(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "1h")
    due = off_at_of(db) + timedelta(seconds=1)
    fake_app.post_answer = httpx.Response(503, text="upstream down")

    await worker_round(linked, due)
    assert fake_app.allow is True and len(timers(db)) == 1
    assert not any("off again" in note for note in notes(linked))

    fake_app.post_answer = None
    assert await worker_round(linked, due + fallback_timers.LEASE + timedelta(seconds=1)) == 1
    assert fake_app.allow is False
    assert timers(db) == []
    assert sum("is off again" in note for note in notes(linked)) == 1


async def test_the_admins_home_lists_a_timed_fallback(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    await enable(linked, "4h")

    assert await open_home(linked, ADMIN) == 200
    _, _, shown = await published(linked)

    assert "Two-person approval is *off*" in shown
    assert "• *prod* ON until <!date^" in shown
    assert f"· set by <@{ADMIN}>" in shown
