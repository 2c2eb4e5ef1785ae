"""Spike alerts end to end: set and listed through the signed app, checked in the alert rounds,
told once per episode with what to do, once more when it calms down, snoozed, paused."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bot.db.models import Observation
from bot.slack import ids
from bot.slack.install.tokens import SlackAccess
from bot.worker import alert_round
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    OTHER_APP_ID,
    BotClient,
    application,
    blocks_of,
    button_labels,
    table_rows,
)
from tests.support.slack_server import TEAM_ID, Call

START = datetime.now(UTC) + timedelta(minutes=1)


@pytest.fixture(autouse=True)
def start_now() -> None:
    """Rounds run from a minute after the test starts, not after the module was imported: the
    bot's own readings are stamped with the real time, minutes later in a whole-suite run."""
    global START
    START = datetime.now(UTC) + timedelta(minutes=1)


EVERY = timedelta(minutes=5)
WINDOW = timedelta(hours=1)
# The quota: 4,690 left of 30,690 (its 1 % is 306.90).
REMAINING, USED = 4690, 26000


class FakeQuota:
    """One application whose amounts a test moves; counts its reads."""

    def __init__(self, router: respx.MockRouter, app_id: str = APP_ID, *, allow: bool = True):
        self.app_id, self.allow = app_id, allow
        self.remaining, self.used = REMAINING, USED
        self.reads = 0
        router.get(f"/applications/{app_id}").mock(side_effect=self._get)
        switch = router.post(f"/applications/{app_id}/update-allow-consume-global/")
        switch.mock(side_effect=self._switch)

    def _get(self, request: httpx.Request) -> httpx.Response:
        self.reads += 1
        body = application(self.app_id, remaining=self.remaining, used=self.used, allow=self.allow)
        return httpx.Response(200, json=body)

    def _switch(self, request: httpx.Request) -> httpx.Response:
        self.allow = json.loads(request.content)["allow_consume_global"]
        return self._get(request)


def seed(db: Engine, readings: list[tuple[datetime, float]], app_id: str = APP_ID) -> None:
    """Readings the bot took earlier (its own quota history)."""
    with Session(db) as session:
        for at, used in readings:
            session.add(
                Observation(
                    team_id=TEAM_ID,
                    application_id=app_id,
                    remaining=str(30690 - used),
                    used=str(used),
                    allow_consume_global=True,
                    observed_at=at,
                )
            )
        session.commit()


def an_hour_ago(used: float, app_id: str = APP_ID, *, db: Engine) -> None:
    """A reading just over a window old: the window spent USED - `used`."""
    seed(db, [(datetime.now(UTC) - WINDOW - timedelta(seconds=30), used)], app_id)


def a_week_of_history(db: Engine, per_hour: float, app_id: str = APP_ID) -> None:
    """The bot's own readings at the start and end of the 7 days before today."""
    end = datetime.combine(datetime.now(UTC).date(), time(), UTC)
    start = end - timedelta(days=7)
    seed(db, [(start, 10000), (end, 10000 + per_hour * 168)], app_id)


def usual_aggregate(router: respx.MockRouter, per_hour: float, app_id: str = APP_ID) -> respx.Route:
    today = datetime.now(UTC).date()
    items = [
        {"date": str(today - timedelta(days=days)), "api_id": "imagine", "amount": per_hour * 24}
        for days in range(1, 8)
    ]
    apis = {"imagine": {"title": "Imagine"}, "upscale": {"title": "Upscale"}}
    return router.get(
        "/usage/apis/aggregate/", params__contains={"application_id": app_id}
    ).respond(json={"items": items, "apis": apis})


def window_records(router: respx.MockRouter) -> respx.Route:
    def record(api: str, key: str, name: str, amount: float) -> dict[str, Any]:
        return {
            "id": f"r-{api}-{amount}",
            "api_id": api,
            "credential_id": key,
            "credential": {"id": key, "name": name},
            "status_code": 200,
            "deducted_amount": amount,
        }

    items = [
        record("imagine", "key-backend", "backend", 200),
        record("imagine", "key-backend", "backend", 50),
        record("upscale", "key-ci", "ci", 60),
    ]
    return router.get("/usage/apis/", params__contains={"ordering": "-created_at"}).respond(
        json={"count": 3, "items": items}
    )


async def round_at(bot: BotClient, at: datetime) -> int:
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    return await alert_round(bot.runtime, access, now=at)


def posts(bot: BotClient) -> list[Call]:
    return [
        call
        for call in bot.slack.calls_to("chat.postMessage")
        if call.data.get("channel") == CHANNEL and "blocks" in call.data
    ]


async def spiking(linked: BotClient, acedata: respx.MockRouter, db: Engine) -> FakeQuota:
    """prod watched for 4x spikes; it spent 310 in the last hour against a usual 50."""
    quota = FakeQuota(acedata)
    usual_aggregate(acedata, 50)
    window_records(acedata)
    an_hour_ago(USED - 310, db=db)
    reply = await linked.quota("alert prod spike", user=ADMIN)
    assert reply is not None and "Spike alert set: *prod* at 4\u00d7 its usual rate" in reply.text
    return quota


async def test_a_spike_is_told_once_with_what_to_do_and_once_more_when_it_calms(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await spiking(linked, acedata, db)
    announced = linked.slack.calls_to("chat.postMessage")[-1]
    assert "spends at least 4\u00d7 its usual rate over the last hour" in announced.data["text"]

    assert await round_at(linked, START) == 1
    (message,) = posts(linked)
    said = "\n".join(block["text"]["text"] for block in blocks_of(message) if "text" in block)
    assert message.data["text"].startswith(
        ":chart_with_upwards_trend: prod (Midjourney) is spending 6.2\u00d7 its usual rate: "
        "310.00 Credits in the last hour, usually 50.00."
    )
    assert "At this rate its quota (4,690.00 Credits left) runs out" in said
    assert "in about 15 h" in said
    assert "*Top APIs:* Imagine 250.00 Credits (81%), Upscale 60.00 Credits (19%)" in said
    assert "*Top keys:* backend 250.00 Credits (81%), ci 60.00 Credits (19%)" in said
    actions = next(b for b in blocks_of(message) if b["type"] == "actions")
    assert actions["block_id"] == ids.SPIKE_ACTIONS_BLOCK
    assert button_labels([actions]) == [
        "Pause key backend",
        "Disable global fallback",
        "Open usage in console",
        "Snooze 1 h",
        "Snooze 1 day",
    ]
    pause, disable, console, *_ = actions["elements"]
    assert pause["action_id"] == ids.KEY_PAUSE_ACTION
    assert ids.decode_key(pause["value"]) == ids.KeyTarget(
        alias="prod", application_id=APP_ID, key_id="key-backend"
    )
    assert "will be paused" in pause["confirm"]["text"]["text"]
    assert ids.decode_toggle(disable["value"]).enable is False
    assert "Calls will fail once" in disable["confirm"]["text"]["text"]
    assert (
        console["url"] == f"https://platform.acedata.cloud/console/usages?application_id={APP_ID}"
    )

    await round_at(linked, START + EVERY)  # still spiking: nothing new
    assert len(posts(linked)) == 1
    listed = await linked.quota("alert", user=MEMBER)
    assert (
        listed is not None
        and "*prod* spending 4\u00d7 its usual rate: spiking since" in listed.text
    )

    an_hour_ago(USED - 10, db=db)  # the last hour spent 10: under half the trigger (100)
    await round_at(linked, START + 2 * EVERY)
    await round_at(linked, START + 3 * EVERY)
    assert len(posts(linked)) == 2
    calm = posts(linked)[-1]
    assert "prod is back to normal: 10.00 Credits in the last hour" in calm.data["text"]
    assert calm.data["thread_ts"] == "1700000000.000200"
    assert calm.data["reply_broadcast"] in (True, "true", "1")
    usual_reads = [
        call for call in acedata.calls if call.request.url.path.endswith("/usage/apis/aggregate/")
    ]
    assert len(usual_reads) == 1  # the usual week is over: read once, not every round
    listed = await linked.quota("alert", user=MEMBER)
    assert listed is not None and "*prod* spending 4\u00d7 its usual rate: watching" in listed.text


async def test_disabling_the_fallback_from_a_spike_switches_it_and_notes_it_in_the_thread(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    quota = await spiking(linked, acedata, db)
    await round_at(linked, START)
    card = {"blocks": blocks_of(posts(linked)[-1])}

    await linked.press(card, "quota_card_toggle_fallback", user=ADMIN)
    await linked.settle()

    assert quota.allow is False
    assert linked.slack.calls_to("chat.update") == []  # the spike message stays as it was
    note = linked.slack.calls_to("chat.postMessage")[-1]
    assert note.data["thread_ts"] == "1700000000.000100"
    assert note.data["text"] == f"<@{ADMIN}> disabled global fallback for *prod* (was on)"


async def test_one_read_per_application_for_its_alert_and_its_spike_watch(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    quota = await spiking(linked, acedata, db)
    reply = await linked.quota("alert prod below 10", user=ADMIN)
    assert reply is not None and "Alert set" in reply.text
    await linked.settle()
    quota.reads = 0

    assert await round_at(linked, START) == 2
    assert quota.reads == 1


async def test_a_snoozed_watch_posts_no_new_spike_until_the_snooze_is_over(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await spiking(linked, acedata, db)
    await round_at(linked, START)
    card = {"blocks": blocks_of(posts(linked)[-1])}

    key = await linked.press(card, f"{ids.SPIKE_SNOOZE_ACTION}:1h", user=MEMBER)
    told = await linked.slack.wait_for_response(key)
    assert f"<@{MEMBER}> snoozed the spike alert on *prod* for an hour" in told["text"]
    listed = await linked.quota("alert", user=MEMBER)
    assert (
        listed is not None
        and "*prod* spending 4\u00d7 its usual rate: snoozed until" in listed.text
    )

    an_hour_ago(USED - 10, db=db)  # calms: the episode told ends as usual
    await round_at(linked, START + EVERY)
    assert "back to normal" in posts(linked)[-1].data["text"]
    an_hour_ago(USED - 900, db=db)  # a new spike while snoozed: not posted
    await round_at(linked, START + 2 * EVERY)
    await round_at(linked, START + 3 * EVERY)
    assert len(posts(linked)) == 2

    # Once the snooze is over, the spike still going is told.
    await round_at(linked, START + timedelta(hours=2))
    assert len(posts(linked)) == 3
    assert "is spending 18.0\u00d7 its usual rate" in posts(linked)[-1].data["text"]


async def test_a_snooze_from_a_channel_that_cannot_see_the_alias_changes_nothing(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await spiking(linked, acedata, db)
    await round_at(linked, START)
    card = {"blocks": blocks_of(posts(linked)[-1])}
    before = table_rows(db)

    key = await linked.press(card, ids.SPIKE_SNOOZE_ACTION, user=MEMBER, channel="C0999")
    told = await linked.slack.wait_for_response(key)

    assert "is not an alias this channel can see" in told["text"]
    assert table_rows(db) == before


async def test_usual_from_the_bots_own_history_when_the_aggregate_is_refused_logged_once(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    await linked.quota(f"link other {OTHER_APP_ID}", user=ADMIN)
    FakeQuota(acedata, OTHER_APP_ID)
    acedata.get(
        "/usage/apis/aggregate/", params__contains={"application_id": OTHER_APP_ID}
    ).respond(json={"total": 3, "rows": "not the shape"})
    window_records(acedata)
    a_week_of_history(db, 50, OTHER_APP_ID)
    an_hour_ago(USED - 400, OTHER_APP_ID, db=db)
    reply = await linked.quota("alert other spike 5", user=ADMIN)
    assert reply is not None and "Spike alert set" in reply.text

    with caplog.at_level(logging.WARNING, logger="bot.services.spikes"):
        await round_at(linked, START)
        await round_at(linked, START + EVERY)

    (message,) = posts(linked)
    assert (
        "is spending 8.0\u00d7 its usual rate: 400.00 Credits in the last hour, usually 50.00"
        in (message.data["text"])
    )
    assert "from the bot's own readings" in json.dumps(blocks_of(message))
    refused = [r for r in caplog.records if "Usage aggregate unavailable" in r.getMessage()]
    assert len(refused) == 1


async def test_a_spike_whose_usage_records_cannot_be_read_is_told_without_them(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await spiking(linked, acedata, db)
    acedata.get("/usage/apis/", params__contains={"ordering": "-created_at"}).respond(
        503, json={"detail": "busy"}
    )

    await round_at(linked, START)

    (message,) = posts(linked)
    said = json.dumps(blocks_of(message))
    assert "is spending 6.2\u00d7 its usual rate" in message.data["text"]
    assert "Top APIs" not in said and "Top keys" not in said
    assert "Pause key" not in button_labels(blocks_of(message))
    assert "Snooze 1 h" in button_labels(blocks_of(message))


async def test_nothing_is_said_without_a_reading_a_window_old(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    FakeQuota(acedata)
    usual_aggregate(acedata, 50)
    seed(db, [(datetime.now(UTC) - timedelta(minutes=20), 1000)])
    await linked.quota("alert prod spike", user=ADMIN)

    assert await round_at(linked, START) == 1
    assert posts(linked) == []


async def test_two_workers_in_the_same_round_post_the_spike_once(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await spiking(linked, acedata, db)

    checked = await asyncio.gather(round_at(linked, START), round_at(linked, START))

    assert sorted(checked) == [0, 1]
    assert len(posts(linked)) == 1
    with db.connect() as connection:
        ts = connection.execute(text("SELECT episode_ts FROM spike_alerts")).scalar()
    assert ts == "1700000000.000200"


async def test_a_watch_whose_alias_is_gone_pauses_after_three_rounds_and_tells_its_setter(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await spiking(linked, acedata, db)
    await linked.quota("unlink prod", user=ADMIN)

    for day in range(5):
        await round_at(linked, START + timedelta(days=day))

    with db.connect() as connection:
        reasons = connection.execute(text("SELECT paused_reason FROM spike_alerts")).scalars()
        assert list(reasons) == ["alias_gone"]
    direct = [c for c in linked.slack.calls_to("chat.postMessage") if c.data["channel"] == ADMIN]
    assert len(direct) == 1
    assert (
        "The spike alert on *prod* in <#C0001> is paused: its alias no longer exists there"
        in direct[0].data["text"]
    )
    listed = await linked.quota("alert", user=MEMBER)
    assert listed is not None
    assert (
        "*prod* spending 4\u00d7 its usual rate: *paused* (its alias no longer exists"
        in listed.text
    )


async def test_setting_bad_factors_members_and_unknown_aliases_change_nothing(
    linked: BotClient, db: Engine
) -> None:
    before = table_rows(db)
    for factor in ("0", "1e9", "abc"):
        reply = await linked.quota(f"alert prod spike {factor}", user=ADMIN)
        assert reply is not None and reply.response_type == "ephemeral"
        assert f"`{factor}` is not a spike factor" in reply.text
    refused = await linked.quota("alert prod spike 3", user=MEMBER)
    assert refused is not None and "Only bot admins can set spike alerts" in refused.text
    unknown = await linked.quota("alert nosuch spike", user=ADMIN)
    assert unknown is not None and "nosuch" in unknown.text
    off = await linked.quota("alert prod spike off", user=ADMIN)
    assert off is not None and "There is no spike alert on *prod*" in off.text
    assert table_rows(db) == before
    assert [
        c for c in linked.slack.calls_to("chat.postMessage") if "spends" in c.data["text"]
    ] == []


async def test_setting_listing_and_removing_a_spike_watch(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    reply = await linked.quota("alert prod spike 2.5", user=ADMIN)
    assert reply is not None and "Spike alert set: *prod* at 2.5\u00d7 its usual rate" in reply.text
    listed = await linked.quota("alert", user=MEMBER)
    assert (
        listed is not None and "*prod* spending 2.5\u00d7 its usual rate: watching" in listed.text
    )

    refused = await linked.quota("alert prod spike off", user=MEMBER)
    assert refused is not None and "Only bot admins can remove spike alerts" in refused.text
    off = await linked.quota("alert prod spike off", user=ADMIN)
    assert off is not None and "The spike alert on *prod* in this channel is off" in off.text
    listed = await linked.quota("alert", user=MEMBER)
    assert listed is not None and "No alerts in this channel" in listed.text

    with db.connect() as connection:
        actions = connection.execute(
            text("SELECT action, user_id, after FROM audit_events ORDER BY id")
        ).all()
    assert ("spike_set", ADMIN, "2.5x") in actions
    assert ("spike_off", ADMIN, None) in actions


@pytest.mark.parametrize("settings_overrides", [{"spike_window_seconds": 1800}])
async def test_the_window_is_a_setting(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    FakeQuota(acedata)
    usual_aggregate(acedata, 50)
    window_records(acedata)
    seed(db, [(datetime.now(UTC) - timedelta(minutes=31), USED - 310)])
    reply = await linked.quota("alert prod spike", user=ADMIN)
    assert reply is not None and "Spike alert set" in reply.text
    assert "over the last 30 minutes" in linked.slack.calls_to("chat.postMessage")[-1].data["text"]

    await round_at(linked, START)

    (message,) = posts(linked)
    assert (
        "12.4\u00d7 its usual rate: 310.00 Credits in the last 30 minutes, usually 25.00"
        in (message.data["text"])
    )
