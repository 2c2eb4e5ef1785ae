"""Low-quota alerts end to end: set up, checked by the scheduler, told once, snoozed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import respx
from sqlalchemy import Engine, text

from bot.slack.install.tokens import SlackAccess
from bot.worker import alert_round
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    OTHER_APP_ID,
    BotClient,
    FakeApplication,
    application,
    blocks_of,
    table_rows,
)

# Alerts are due from the moment they are set; checks happen from a minute later on.
START = datetime.now(UTC) + timedelta(minutes=1)


@pytest.fixture(autouse=True)
def start_now() -> None:
    """Checks run from a minute after the test starts, not after the module was imported
    (minutes earlier in a whole-suite run, when the alerts would not be due yet)."""
    global START
    START = datetime.now(UTC) + timedelta(minutes=1)


async def check(bot: BotClient, at: datetime) -> int:
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    return await alert_round(bot.runtime, access, now=at)


def alert_posts(bot: BotClient, channel: str = CHANNEL) -> list[str]:
    return [
        call.data["text"]
        for call in bot.slack.calls_to("chat.postMessage")
        if call.data.get("channel") == channel and "blocks" in call.data
    ]


async def watched(linked: BotClient, acedata: respx.MockRouter, below: str) -> FakeApplication:
    app = FakeApplication(acedata)
    app.latency = 0
    reply = await linked.quota(f"alert prod below {below}", user=ADMIN)
    assert "Alert set: *prod* below" in reply.text
    return app


async def test_setting_an_alert_confirms_in_the_channel_and_lists_it(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    await watched(linked, acedata, "10%")
    confirmation = linked.slack.calls_to("chat.postMessage")[-1]
    assert confirmation.data["channel"] == CHANNEL
    assert "drops below 10.0% left" in confirmation.data["text"]

    listing = await linked.quota("alert", user=MEMBER)
    assert "*prod* below 10.0% left: ok" in listing.text
    refused = await linked.quota("alert prod below 5", user=MEMBER)
    assert "Only bot admins can set alerts" in refused.text


async def test_an_alert_where_the_bot_cannot_post_is_not_saved(
    linked: BotClient, db: Engine
) -> None:
    linked.slack.failures["chat.postMessage"] = "not_in_channel"
    before = table_rows(db)
    reply = await linked.quota("alert prod below 100", user=ADMIN)
    assert "cannot post in this channel (Slack said `not_in_channel`)" in reply.text
    assert table_rows(db) == before


async def test_a_quota_hovering_at_the_line_is_told_once_then_again_after_recovery(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    app = await watched(linked, acedata, "100")
    every = timedelta(seconds=linked.settings.alert_check_seconds)
    posted = []
    for step, remaining in enumerate([150, 99, 101, 98, 102, 99, 120, 95]):
        app.remaining = remaining
        await check(linked, START + step * every)
        posted = alert_posts(linked)
    assert len(posted) == 3, posted
    assert "below its alert threshold" in posted[0]
    assert "is back" in posted[1]  # 120 is past the threshold plus its margin
    assert "below its alert threshold" in posted[2]


async def test_exhausted_with_the_fallback_off_calls_the_channel_and_offers_the_switch(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    app = await watched(linked, acedata, "100")
    app.remaining = 0
    await check(linked, START)

    message = linked.slack.calls_to("chat.postMessage")[-1]
    assert message.data["text"].startswith("<!here> :rotating_light: prod")
    assert "calls now fail" in message.data["text"]
    labels = [
        element["text"]["text"]
        for block in blocks_of(message)
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]
    assert labels[0] == "Enable global fallback"
    assert "Snooze until recovered" in labels


async def test_exhausted_with_the_fallback_on_says_the_global_balance_pays(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    app = await watched(linked, acedata, "100")
    app.allow, app.remaining = True, 0
    await check(linked, START)
    text_ = linked.slack.calls_to("chat.postMessage")[-1].data["text"]
    assert "paid from the global balance" in text_
    assert "<!here>" not in text_


async def test_a_snooze_is_honoured_and_lifted_when_it_runs_out(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    app = await watched(linked, acedata, "100")
    app.remaining = 90
    await check(linked, START)
    card = {"blocks": blocks_of(linked.slack.calls_to("chat.postMessage")[-1])}
    key = await linked.press(card, "quota_alert_snooze:1d", user=MEMBER)
    told = await linked.slack.wait_for_response(key)
    assert "snoozed the alert on *prod* for a day" in told["text"]
    every = timedelta(seconds=linked.settings.alert_check_seconds)
    for step, remaining in enumerate([120, 80, 50], start=1):  # recovers, dips: snoozed
        app.remaining = remaining
        await check(linked, START + step * every)
    assert len(alert_posts(linked)) == 2  # the first alert and "is back"

    app.remaining = 0
    await check(linked, START + 5 * every)
    assert "used up its quota" in alert_posts(linked)[-1]


async def test_a_hundred_channels_watching_one_application_read_it_once(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    app = FakeApplication(acedata)
    app.latency = 0
    await linked.quota(f"link shared {APP_ID} --workspace", user=ADMIN)
    channels = [f"C9{number:04d}" for number in range(100)]
    for channel in channels:
        reply = await linked.quota("alert shared below 100", user=ADMIN, channel=channel)
        assert "Alert set" in reply.text
    app.log.clear()
    acedata.calls.clear()

    checked = await check(linked, datetime.now(UTC) + timedelta(seconds=1))

    assert checked == 100
    assert app.log == ["GET"]
    global_reads = [c for c in acedata.calls if c.request.url.params.get("scope") == "Global"]
    assert len(global_reads) == 1


async def test_an_alert_in_a_channel_that_is_gone_pauses_and_tells_who_set_it(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    app = await watched(linked, acedata, "100")
    linked.slack.failures["chat.postMessage"] = "channel_not_found"
    app.remaining = 10

    await check(linked, START)

    with db.connect() as connection:
        reasons = connection.execute(text("SELECT paused_reason FROM quota_alerts")).scalars().all()
    assert reasons == ["channel_not_found"]
    direct = [c for c in linked.slack.calls_to("chat.postMessage") if c.data["channel"] == ADMIN]
    assert len(direct) == 1
    assert "The alert on *prod* in <#C0001> is paused" in direct[0].data["text"]
    assert await check(linked, START + timedelta(days=1)) == 0


async def test_an_alert_whose_alias_is_gone_is_paused_after_three_rounds_and_listed_so(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    await watched(linked, acedata, "100")
    await linked.quota("unlink prod", user=ADMIN)

    for day in range(4):
        await check(linked, START + timedelta(days=day))
    listed = await linked.quota("alert", user=MEMBER)

    with db.connect() as connection:
        reasons = connection.execute(text("SELECT paused_reason FROM quota_alerts")).scalars().all()
    assert reasons == ["alias_gone"]
    direct = [c for c in linked.slack.calls_to("chat.postMessage") if c.data["channel"] == ADMIN]
    assert len(direct) == 1 and "its alias no longer exists there" in direct[0].data["text"]
    assert listed is not None
    assert "*paused* (its alias no longer exists there)" in listed.text


async def test_switching_the_fallback_from_an_alert_keeps_the_alert_and_notes_it_below(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    app = await watched(linked, acedata, "100")
    app.remaining = 0
    await check(linked, START)
    blocks = blocks_of(linked.slack.calls_to("chat.postMessage")[-1])

    key = await linked.press_switch({"blocks": blocks}, "quota_card_toggle_fallback", user=ADMIN)
    await linked.settle()

    assert app.allow is True
    assert linked.slack.calls_to("chat.update") == []
    assert all(not r.get("replace_original") for r in linked.slack.responses.get(key, []))
    note = linked.slack.calls_to("chat.postMessage")[-1]
    assert note.data["thread_ts"] == "1700000000.000100"
    assert note.data["text"] == f"<@{ADMIN}> enabled global fallback for *prod* (was off)"


async def test_a_rate_limited_account_is_left_alone_for_the_rest_of_the_round(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    await linked.quota(f"link shared {APP_ID} --workspace", user=ADMIN)
    await linked.quota(f"link other {OTHER_APP_ID} --workspace", user=ADMIN)
    for alias in ("shared", "other"):
        for number in range(3):
            reply = await linked.quota(
                f"alert {alias} below 100", user=ADMIN, channel=f"C7{number}"
            )
            assert "Alert set" in reply.text
    acedata.get(f"/applications/{APP_ID}").respond(
        429, headers={"Retry-After": "600"}, json={"detail": "Slow down"}
    )
    acedata.get(f"/applications/{OTHER_APP_ID}").respond(
        json=application(OTHER_APP_ID, remaining=50)
    )
    acedata.calls.clear()

    checked = await check(linked, datetime.now(UTC) + timedelta(seconds=1))

    assert checked == 6
    reads = [c.request.url.path for c in acedata.calls if "/applications/" in c.request.url.path]
    # One account: asked once, told to wait, then spared for the rest of the round.
    assert len([path for path in reads if path.endswith((APP_ID, OTHER_APP_ID))]) == 1
