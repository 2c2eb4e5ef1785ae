"""Scheduled channel digests, end to end: set up with `/quota digest …`, sent by scheduler rounds
the tests run at moments they choose, exactly once per slot, paused when Slack shuts the channel,
and updated in place by their buttons."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import respx
from sqlalchemy import Engine, event, func, insert, select, update

from bot.db.models import Alias, AuditEvent, DigestDelivery, DigestSchedule, Observation
from bot.services.digests import set_schedule
from bot.services.schedules import Schedule
from bot.slack.ids import REFRESH_ACTION, TOGGLE_ACTION
from bot.slack.install.tokens import SlackAccess
from bot.worker import digest_round
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    LINKS,
    LISTED_ADMIN,
    MEMBER,
    OTHER_APP_ID,
    OTHER_CHANNEL,
    BotClient,
    FakeApplication,
    blocks_of,
    button_labels,
    mock_quota,
    table_rows,
)
from tests.support.factories import as_utc
from tests.support.slack_server import TEAM_ID, Call, SlackServer
from tests.support.usage import aggregate_route, mock_usage

POSTED_TS = "1700000000.000200"  # what the local Slack server answers chat.postMessage with
DIGEST_USAGE = "Usage: `/quota digest daily|weekdays HH:MM [Area/City]`"
WEEKLY_USAGE = "Usage: `/quota digest weekly mon|tue|wed|thu|fri|sat|sun HH:MM [Area/City]`"


# ---------------------------------------------------------------------------------------------
# helpers


def next_local(at: time, zone: str, after: datetime) -> datetime:
    """The first `at` local time in `zone` strictly after `after`, in UTC (worked out here, not
    by the code under test; only for times that exist every day)."""
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date()
    while (candidate := datetime.combine(day, at, tzinfo=tz)) <= after:
        day += timedelta(days=1)
    return candidate.astimezone(UTC)


def schedule_rows(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as connection:
        rows = connection.execute(select(DigestSchedule.__table__).order_by("id")).mappings()
        return [dict(row) | {"next_run_at": as_utc(row["next_run_at"])} for row in rows]


def delivery_rows(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as connection:
        rows = connection.execute(select(DigestDelivery.__table__).order_by("id")).mappings()
        return [
            dict(row) | {"slot": as_utc(row["slot"]), "late": bool(row["late"])} for row in rows
        ]


def digest_audit(db: Engine) -> list[tuple[str, str, str | None]]:
    with db.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(AuditEvent.action, AuditEvent.user_id, AuditEvent.detail)
                .where(AuditEvent.action.like("digest%"))
                .order_by(AuditEvent.id)
            )
        ]


def texts(value: Any) -> list[str]:
    """Every `text` string in a message's blocks."""
    if isinstance(value, dict):
        own = [value["text"]] if isinstance(value.get("text"), str) else []
        return own + [t for item in value.values() for t in texts(item)]
    if isinstance(value, list):
        return [t for item in value for t in texts(item)]
    return []


def digest_posts(slack: SlackServer, channel: str | None = None) -> list[Call]:
    """The digests posted (messages with blocks; confirmations and DMs are plain text)."""
    return [
        call
        for call in slack.calls_to("chat.postMessage")
        if call.data.get("blocks") and (channel is None or call.data.get("channel") == channel)
    ]


def fail_posts_in(slack: SlackServer, channel: str, error: str) -> Callable[[], None]:
    """chat.postMessage into `channel` (only) fails with `error`; every other call is answered
    as before. Returns what undoes it."""
    slack.channel_failures[channel] = error
    return lambda: slack.channel_failures.pop(channel, None)  # type: ignore[return-value]


def upstream_reads(acedata: respx.MockRouter, app_id: str) -> int:
    return sum(
        1
        for request, _ in acedata.calls
        if request.method == "GET" and request.url.path.endswith(f"/applications/{app_id}")
    )


def observations(db: Engine, app_id: str) -> int:
    with db.connect() as connection:
        return connection.scalar(
            select(func.count()).where(Observation.__table__.c.application_id == app_id)
        )


async def round_at(bot: BotClient, now: datetime) -> int:
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    return await digest_round(bot.runtime, access, now=now)


async def set_via_command(bot: BotClient, text: str, *, user: str = ADMIN, **options: Any) -> str:
    """Run `/quota <text>` that sets a digest; the private reply's text."""
    reply = await bot.quota(text, user=user, **options)
    assert reply is not None
    assert reply.response_type == "ephemeral"
    await bot.settle()
    return reply.text


async def schedule_directly(
    bot: BotClient, channel: str, *, now: datetime, user: str = ADMIN, at: time = time(9, 0)
) -> datetime:
    """A daily UTC digest for `channel` saved through the service (no confirmation post); its
    first run."""
    assert bot.runtime is not None
    setup = await set_schedule(
        bot.runtime.db,
        team_id=TEAM_ID,
        channel_id=channel,
        schedule=Schedule("daily", at, ZoneInfo("UTC")),
        now=now,
        user_id=user,
    )
    return setup.next_run_at


# ---------------------------------------------------------------------------------------------
# 1. setting up


async def test_an_admin_sets_a_daily_digest_in_a_named_time_zone(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    before = datetime.now(UTC)
    reply = await set_via_command(bot, "digest daily 09:00 Asia/Shanghai")
    after = datetime.now(UTC)

    [row] = schedule_rows(db)
    expected = {
        next_local(time(9), "Asia/Shanghai", before),
        next_local(time(9), "Asia/Shanghai", after),
    }
    assert row["next_run_at"] in expected
    first = row["next_run_at"]
    local = first.astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%H:%M") == "09:00"
    assert (row["channel_id"], row["kind"], row["at_time"], row["zone"]) == (
        CHANNEL,
        "daily",
        "09:00",
        "Asia/Shanghai",
    )
    assert row["created_by"] == ADMIN
    assert row["paused_reason"] is None

    # The channel is told, in the channel.
    [confirmation] = bot.slack.calls_to("chat.postMessage")
    assert confirmation.data["channel"] == CHANNEL
    assert (
        f"Daily digest at 09:00 Asia/Shanghai; first one {local.strftime('%a %-d %b')}"
        in confirmation.data["text"]
    )
    # The admin privately: next run in local time and in UTC.
    assert "Daily digest at 09:00 Asia/Shanghai" in reply
    assert f"{local.strftime('%a %-d %b')} 09:00 Asia/Shanghai" in reply
    assert "(01:00 UTC)" in reply
    assert digest_audit(db) == [("digest_set", ADMIN, f"channel {CHANNEL}")]


async def test_without_a_zone_the_users_slack_zone_is_used_and_else_utc(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    bot.slack.users[ADMIN]["tz"] = "Europe/Berlin"

    before = datetime.now(UTC)
    reply = await set_via_command(bot, "digest weekdays 07:30")
    [row] = schedule_rows(db)
    assert (row["kind"], row["zone"], row["at_time"]) == ("weekdays", "Europe/Berlin", "07:30")
    assert row["next_run_at"].astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "07:30"
    assert row["next_run_at"].astimezone(ZoneInfo("Europe/Berlin")).weekday() < 5
    assert row["next_run_at"] > before
    assert "Weekday digest at 07:30 Europe/Berlin" in reply

    # LISTED_ADMIN has no tz in Slack: UTC. Setting again replaces the channel's digest.
    reply = await set_via_command(bot, "digest weekly fri 18:15", user=LISTED_ADMIN)
    [row] = schedule_rows(db)
    assert (row["kind"], row["zone"], row["weekday"], row["at_time"]) == (
        "weekly",
        "UTC",
        4,
        "18:15",
    )
    assert row["created_by"] == LISTED_ADMIN
    ran = row["next_run_at"]
    assert (ran.weekday(), ran.strftime("%H:%M")) == (4, "18:15")
    assert "Weekly digest on Fri at 18:15 UTC" in reply
    assert "(18:15 UTC)" in reply
    confirmations = [call.data["text"] for call in bot.slack.calls_to("chat.postMessage")]
    assert len(confirmations) == 2
    assert "Weekly digest on Fri at 18:15 UTC; first one Fri" in confirmations[1]


async def test_a_member_cannot_set_a_digest(linked: BotClient, db: Engine) -> None:
    bot = linked
    reply = await bot.quota("digest daily 09:00 UTC", user=MEMBER)
    assert reply is not None
    await bot.settle()
    assert "Only bot admins can schedule digests" in reply.text
    assert schedule_rows(db) == []
    assert bot.slack.calls_to("chat.postMessage") == []
    assert digest_audit(db) == []


async def test_bad_forms_give_the_usage_and_save_nothing(linked: BotClient, db: Engine) -> None:
    bot = linked
    for text, problem, usage in [
        ("digest daily 25:00", "`25:00` is not a time", DIGEST_USAGE),
        ("digest weekly fun 09:00", "`fun` is not a day of the week", WEEKLY_USAGE),
        ("digest daily 09:00 Mars/Base", "`Mars/Base` is not a time zone", DIGEST_USAGE),
    ]:
        reply = await bot.quota(text, user=ADMIN)
        assert reply is not None
        assert reply.response_type == "ephemeral"
        assert problem in reply.text, text
        assert usage in reply.text, text
    await bot.settle()
    assert schedule_rows(db) == []
    assert bot.slack.calls_to("chat.postMessage") == []
    assert digest_audit(db) == []


# ---------------------------------------------------------------------------------------------
# 2. Slack refusing the confirmation


async def test_a_channel_the_bot_cannot_post_in_is_refused_and_nothing_saved(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    for error in ("not_in_channel", "channel_not_found"):
        before = table_rows(db)
        bot.slack.failures["chat.postMessage"] = error
        reply = await set_via_command(bot, "digest daily 09:00 Asia/Shanghai")
        assert f"Slack said `{error}`" in reply
        assert "nothing was saved" in reply
        assert "/invite @Quota Bot" in reply
        assert schedule_rows(db) == []
        assert digest_audit(db) == []
        assert table_rows(db) == before
    assert len(bot.slack.calls_to("chat.postMessage")) == 2  # the confirmations it tried


# ---------------------------------------------------------------------------------------------
# 3. showing and stopping


async def test_bare_digest_shows_the_schedule_and_off_removes_it(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert "This channel has no digest" in reply.text

    await set_via_command(bot, "digest weekly mon 09:00 America/New_York")
    [row] = schedule_rows(db)
    local = row["next_run_at"].astimezone(ZoneInfo("America/New_York"))
    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert reply.response_type == "ephemeral"
    assert "Weekly digest on Mon at 09:00 America/New_York" in reply.text
    utc = row["next_run_at"].strftime("%a %-d %b %H:%M")
    assert f"Next: {local.strftime('%a %-d %b')} 09:00 America/New_York ({utc} UTC)" in reply.text
    assert "Last:" not in reply.text

    # Once a digest went out, it says so.
    await round_at(bot, row["next_run_at"] + timedelta(seconds=1))
    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    slot = int(row["next_run_at"].timestamp())
    assert f"Last: <!date^{slot}^" in reply.text
    assert "— sent." in reply.text

    # A member cannot stop it.
    reply = await bot.quota("digest off", user=MEMBER)
    assert reply is not None
    assert "Only bot admins can stop digests" in reply.text
    assert len(schedule_rows(db)) == 1

    reply = await bot.quota("digest off", user=LISTED_ADMIN)
    assert reply is not None
    assert "The digest for this channel is off" in reply.text
    assert schedule_rows(db) == []
    assert digest_audit(db)[-1] == ("digest_off", LISTED_ADMIN, f"channel {CHANNEL}")

    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert "This channel has no digest" in reply.text
    reply = await bot.quota("digest off", user=ADMIN)
    assert reply is not None
    assert "This channel has no digest" in reply.text
    assert [action for action, _, _ in digest_audit(db)] == ["digest_set", "digest_off"]


# ---------------------------------------------------------------------------------------------
# 4. sending one now


async def test_digest_now_posts_the_digest_with_the_cards_buttons(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    await bot.quota("digest now", user=ADMIN, expect_reply=False)
    await bot.slack.wait_for_call("chat.postMessage")
    await bot.settle()

    [posted] = digest_posts(bot.slack)
    assert posted.data["channel"] == CHANNEL
    assert "thread_ts" not in posted.data
    blocks = blocks_of(posted)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Quota digest"
    shown = "\n".join(texts(blocks))
    assert "1 alias · 0 low · 0 exhausted · global balance 1,234.50 Credits" in shown
    assert "*prod*" in shown
    assert "Midjourney: remaining 493.22 Credits" in shown
    actions = [block for block in blocks if block["type"] == "actions"]
    assert len(actions) == 1
    assert actions[0]["block_id"].startswith("quota_card_actions:digest:")
    assert button_labels(actions) == ["Enable global fallback", "Refresh", *LINKS]
    # A digest sent on demand is no scheduled slot.
    assert delivery_rows(db) == []


def link_many(db: Engine, count: int) -> list[str]:
    """`count` aliases in CHANNEL, enough for a digest to need its thread; their names."""
    names = [f"svc-{n:02d}" for n in range(count)]
    with db.begin() as connection:
        connection.execute(
            insert(Alias.__table__),
            [
                {
                    "team_id": TEAM_ID,
                    "channel_id": CHANNEL,
                    "name": name,
                    "application_id": APP_ID,
                    "created_by": ADMIN,
                    "created_at": datetime.now(UTC),
                }
                for name in names
            ],
        )
    return names


async def test_a_digest_too_big_for_one_message_continues_in_its_thread(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    names = link_many(db, 60)
    await bot.quota("digest now", user=ADMIN, expect_reply=False)
    await bot.slack.wait_for_call("chat.postMessage")
    await bot.settle()

    first, *replies = digest_posts(bot.slack)
    assert replies
    assert first.data["channel"] == CHANNEL
    assert "thread_ts" not in first.data
    assert all(r.data["thread_ts"] == POSTED_TS for r in replies)
    assert all(r.data["channel"] == CHANNEL for r in replies)
    everything = [blocks_of(call) for call in (first, *replies)]
    assert all(len(blocks) <= 50 for blocks in everything)
    shown = "\n".join(t for blocks in everything for t in texts(blocks))
    assert "61 aliases · 0 low · 0 exhausted" in shown
    assert "continued in the thread" in shown
    sections = [
        block["text"]["text"]
        for blocks in everything
        for block in blocks
        if block["type"] == "section"
    ]
    for name in [*names, "prod"]:
        assert sum(f"*{name}*" in section for section in sections) == 1, name


async def test_digest_now_in_a_channel_the_bot_is_not_in_says_how_to_invite_it(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    bot.slack.failures["chat.postMessage"] = "not_in_channel"
    reply = await bot.quota("digest now", user=ADMIN)
    assert reply is not None
    await bot.settle()
    assert reply.response_type == "ephemeral"
    assert "Slack said `not_in_channel`" in reply.text
    assert "/invite @Quota Bot" in reply.text
    assert delivery_rows(db) == []


async def test_a_member_cannot_send_a_digest_now(linked: BotClient) -> None:
    bot = linked
    reply = await bot.quota("digest now", user=MEMBER)
    assert reply is not None
    await bot.settle()
    assert "Only bot admins can send a digest" in reply.text
    assert digest_posts(bot.slack) == []


# ---------------------------------------------------------------------------------------------
# 5. exactly once


async def test_a_due_digest_is_sent_exactly_once(linked: BotClient, db: Engine) -> None:
    bot = linked
    await set_via_command(bot, "digest daily 09:00 Asia/Shanghai")
    [row] = schedule_rows(db)
    due = row["next_run_at"]
    bot.slack.calls.clear()

    assert await round_at(bot, due - timedelta(seconds=1)) == 0
    assert digest_posts(bot.slack) == []

    assert await round_at(bot, due + timedelta(seconds=1)) == 1
    [posted] = digest_posts(bot.slack)
    assert posted.data["channel"] == CHANNEL
    blocks = blocks_of(posted)
    assert blocks[0]["text"]["text"] == "Daily digest at 09:00 Asia/Shanghai"
    assert "Sent late" not in "\n".join(texts(blocks))

    assert await round_at(bot, due + timedelta(seconds=1)) == 0
    assert await round_at(bot, due + timedelta(minutes=1)) == 0
    assert len(digest_posts(bot.slack)) == 1

    [delivery] = delivery_rows(db)
    assert (delivery["slot"], delivery["outcome"], delivery["message_ts"]) == (
        due,
        "sent",
        POSTED_TS,
    )
    assert delivery["late"] is False
    assert schedule_rows(db)[0]["next_run_at"] == due + timedelta(days=1)

    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert f"Last: <!date^{int(due.timestamp())}^" in reply.text
    assert "— sent." in reply.text


async def test_the_next_digest_says_what_changed_since_the_last_one(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    await round_at(bot, due + timedelta(seconds=1))
    first = "\n".join(texts(blocks_of(digest_posts(bot.slack)[0])))
    assert "since the last digest" not in first

    mock_quota(acedata, APP_ID, title="Midjourney", remaining=400, used=115)
    await round_at(bot, due + timedelta(days=1, seconds=1))
    [_, second] = digest_posts(bot.slack)
    shown = "\n".join(texts(blocks_of(second)))
    assert "remaining 400.00 Credits" in shown
    assert "-93.22 since the last digest" in shown


class ClaimsMeet:
    """Holds each round that has just read the due schedules until `rounds` of them have (or
    `patience` runs out), so that their claims overlap for certain rather than by luck."""

    def __init__(self, bot: BotClient, rounds: int, patience: float) -> None:
        assert bot.runtime is not None
        self.engine = bot.runtime.db.engine.sync_engine
        self.rounds = rounds
        self.patience = patience
        self.arrived = 0
        self.gave_up = 0  # rounds that waited in vain: the others were held up elsewhere
        self.all_here = asyncio.Event()

    async def _meet(self, _driver_connection: Any) -> None:
        self.arrived += 1
        if self.arrived >= self.rounds:
            self.all_here.set()
        try:
            await asyncio.wait_for(self.all_here.wait(), self.patience)
        except TimeoutError:
            self.gave_up += 1

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM digest_schedules" in statement and "next_run_at <=" in statement:
            conn.connection.dbapi_connection.run_async(self._meet)

    def __enter__(self) -> ClaimsMeet:
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "after_cursor_execute", self._after)


async def test_two_rounds_at_once_send_a_due_digest_once(linked: BotClient, db: Engine) -> None:
    bot = linked
    assert bot.runtime is not None
    postgres = bot.runtime.db.dialect == "postgresql"
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    now = due + timedelta(seconds=1)

    # PostgreSQL: both rounds read the due schedules before either commits; the second skips
    # the row the first has locked. SQLite: a claim takes the write lock before reading, so the
    # second round waits for the first and then finds nothing due (held only briefly here).
    with ClaimsMeet(bot, rounds=2, patience=3.0 if postgres else 0.2) as meeting:
        claimed = await asyncio.gather(round_at(bot, now), round_at(bot, now))

    assert sorted(claimed) == [0, 1]
    assert len(digest_posts(bot.slack, CHANNEL)) == 1
    assert [row["outcome"] for row in delivery_rows(db)] == ["sent"]
    assert meeting.arrived >= 2  # both read the due schedules (the one that sent, once more)
    if postgres:
        # PostgreSQL only: FOR UPDATE SKIP LOCKED. A plain FOR UPDATE would have blocked the
        # second round's read until the first committed, and the first waited here in vain.
        assert meeting.gave_up == 0


# ---------------------------------------------------------------------------------------------
# 6. downtime


async def test_after_three_days_down_one_late_digest_is_sent(linked: BotClient, db: Engine) -> None:
    bot = linked
    now = datetime.now(UTC).replace(microsecond=0)
    # A daily slot two hours ago (to the minute), missed on each of the last three days too.
    slot = (now - timedelta(hours=2)).replace(second=0)
    await set_via_command(bot, f"digest daily {slot.strftime('%H:%M')} UTC")
    with db.begin() as connection:
        connection.execute(
            update(DigestSchedule.__table__).values(next_run_at=slot - timedelta(days=3))
        )
    bot.slack.calls.clear()

    assert await round_at(bot, now) == 1
    assert await round_at(bot, now + timedelta(seconds=30)) == 0

    [posted] = digest_posts(bot.slack)
    shown = "\n".join(texts(blocks_of(posted)))
    assert f"Sent late: this was due <!date^{int(slot.timestamp())}^" in shown
    [delivery] = delivery_rows(db)
    assert (delivery["slot"], delivery["late"], delivery["outcome"]) == (slot, True, "sent")
    assert schedule_rows(db)[0]["next_run_at"] == slot + timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# 7. a channel gone


async def test_a_channel_gone_pauses_its_digest_tells_the_admin_and_spares_the_others(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    await bot.quota(f"link suno {OTHER_APP_ID}", user=ADMIN, channel=OTHER_CHANNEL)
    now = datetime.now(UTC)
    due = await schedule_directly(bot, CHANNEL, now=now, user=ADMIN)
    assert await schedule_directly(bot, OTHER_CHANNEL, now=now, user=LISTED_ADMIN) == due
    bot.slack.calls.clear()
    restore = fail_posts_in(bot.slack, CHANNEL, "channel_not_found")

    assert await round_at(bot, due + timedelta(seconds=1)) == 2

    # The other channel got its digest.
    [other] = digest_posts(bot.slack, OTHER_CHANNEL)
    assert "*suno*" in "\n".join(texts(blocks_of(other)))
    # The gone one is paused, and whoever set it is told in a DM.
    paused = {row["channel_id"]: row["paused_reason"] for row in schedule_rows(db)}
    assert paused == {CHANNEL: "channel_not_found", OTHER_CHANNEL: None}
    [dm] = [c for c in bot.slack.calls_to("chat.postMessage") if c.data["channel"] == ADMIN]
    assert f"Daily digest at 09:00 UTC for <#{CHANNEL}> is paused" in dm.data["text"]
    assert "channel_not_found" in dm.data["text"]
    assert "/invite @Quota Bot" in dm.data["text"]
    outcomes = {(row["outcome"], row["slack_error"]) for row in delivery_rows(db)}
    assert outcomes == {("failed", "channel_not_found"), ("sent", None)}

    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert "Paused: Slack said `channel_not_found`" in reply.text
    assert "Last:" in reply.text
    assert "not sent (Slack said `channel_not_found`)" in reply.text

    # Even once the channel would take it again, a paused digest is not sent.
    restore()
    bot.slack.calls.clear()
    assert await round_at(bot, due + timedelta(days=1, seconds=1)) == 1
    assert [call.data["channel"] for call in bot.slack.calls_to("chat.postMessage")] == [
        OTHER_CHANNEL
    ]


async def test_setting_a_paused_digest_again_resumes_it(linked: BotClient, db: Engine) -> None:
    bot = linked
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    restore = fail_posts_in(bot.slack, CHANNEL, "not_in_channel")
    await round_at(bot, due + timedelta(seconds=1))
    assert schedule_rows(db)[0]["paused_reason"] == "not_in_channel"

    # The bot is invited back and an admin sets the digest again (an hour after the failed
    # slot: the test's clock, not the real one, which has not got there yet).
    restore()
    await schedule_directly(bot, CHANNEL, now=due + timedelta(hours=1))
    [row] = schedule_rows(db)
    assert (row["paused_reason"], row["next_run_at"]) == (None, due + timedelta(days=1))
    bot.slack.calls.clear()
    assert await round_at(bot, row["next_run_at"] + timedelta(seconds=1)) == 1
    assert len(digest_posts(bot.slack, CHANNEL)) == 1
    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert "Paused" not in reply.text
    assert "— sent." in reply.text


# ---------------------------------------------------------------------------------------------
# 8. a crashed worker's claim


async def abandoned_claim(bot: BotClient, db: Engine, *, attempts: int) -> datetime:
    """A slot claimed by a worker that died before sending it: the schedule moved on, the
    delivery row left 'claimed' with its lease run out. Returns the slot."""
    slot = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    [schedule] = schedule_rows(db)
    with db.begin() as connection:
        connection.execute(
            update(DigestSchedule.__table__).values(next_run_at=slot + timedelta(days=1))
        )
        connection.execute(
            insert(DigestDelivery.__table__).values(
                schedule_id=schedule["id"],
                slot=slot,
                late=False,
                outcome="claimed",
                attempts=attempts,
                lease_until=slot + timedelta(minutes=5),
            )
        )
    return slot


async def test_a_claim_abandoned_by_a_crashed_worker_is_sent_once(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    slot = await abandoned_claim(bot, db, attempts=1)

    # While the lease runs, nobody else takes it.
    assert await round_at(bot, slot + timedelta(minutes=4)) == 0
    assert digest_posts(bot.slack) == []

    assert await round_at(bot, slot + timedelta(minutes=10)) == 1
    assert await round_at(bot, slot + timedelta(minutes=30)) == 0
    [posted] = digest_posts(bot.slack)
    assert posted.data["channel"] == CHANNEL
    [delivery] = delivery_rows(db)
    assert (delivery["slot"], delivery["outcome"], delivery["attempts"]) == (slot, "sent", 2)


async def test_a_reclaimed_slot_sent_late_is_recorded_as_late(
    linked: BotClient, db: Engine
) -> None:
    # The digest that goes out says "Sent late"; the record `/quota digest` reads should agree.
    bot = linked
    slot = await abandoned_claim(bot, db, attempts=1)

    assert await round_at(bot, slot + timedelta(minutes=30)) == 1
    [posted] = digest_posts(bot.slack)
    shown = "\n".join(texts(blocks_of(posted)))
    assert f"Sent late: this was due <!date^{int(slot.timestamp())}^" in shown
    reply = await bot.quota("digest", user=MEMBER)
    assert reply is not None
    assert "— sent, late." in reply.text
    [delivery] = delivery_rows(db)
    assert delivery["late"] is True


async def test_a_claim_abandoned_twice_is_not_tried_again(linked: BotClient, db: Engine) -> None:
    bot = linked
    slot = await abandoned_claim(bot, db, attempts=2)

    assert await round_at(bot, slot + timedelta(minutes=10)) == 0
    assert await round_at(bot, slot + timedelta(hours=2)) == 0
    assert digest_posts(bot.slack) == []
    [delivery] = delivery_rows(db)
    assert delivery["attempts"] == 2


# ---------------------------------------------------------------------------------------------
# 9. many channels, one read


async def test_a_hundred_channels_showing_one_application_cost_one_read(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    await bot.quota(f"link prod {APP_ID} --workspace", user=ADMIN)
    now = datetime.now(UTC)
    channels = [f"C{1000 + n}" for n in range(100)]
    dues = {await schedule_directly(bot, channel, now=now) for channel in channels}
    assert len(dues) == 1
    [due] = dues
    bot.slack.calls.clear()
    reads_before = upstream_reads(acedata, APP_ID)
    observed_before = observations(db, APP_ID)

    assert await round_at(bot, due + timedelta(seconds=1)) == 100

    posted = digest_posts(bot.slack)
    assert sorted(call.data["channel"] for call in posted) == channels
    assert all("*prod*" in "\n".join(texts(blocks_of(call))) for call in posted)
    assert upstream_reads(acedata, APP_ID) - reads_before == 1
    # The one reading is kept once in the history, not once per channel.
    assert observations(db, APP_ID) - observed_before == 1
    with db.connect() as connection:
        sent = connection.scalar(
            select(func.count()).where(DigestDelivery.__table__.c.outcome == "sent")
        )
    assert sent == 100


async def test_digests_name_the_top_apis_today_from_one_read_per_application(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    """Two channels' digests in one round show the same application: its usage aggregate is
    read once, and each digest's line names its top APIs today. An application whose aggregate
    fails has no "top" part; its digest is sent all the same."""
    bot = linked
    await bot.quota(f"link prod {APP_ID} --workspace", user=ADMIN)
    await bot.quota(f"link music {OTHER_APP_ID} --workspace", user=ADMIN)
    now = datetime.now(UTC)
    due = await schedule_directly(bot, CHANNEL, now=now)
    assert await schedule_directly(bot, OTHER_CHANNEL, now=now) == due
    today = [(0, "mj-imagine", "31"), (0, "mj-describe", 15), (0, "mj-blend", "4")]
    route = mock_usage(acedata, [*today, (1, "mj-video", 500)], today=due.date())
    failing = aggregate_route(acedata, OTHER_APP_ID).respond(500, json={"detail": "Boom."})
    bot.slack.calls.clear()
    reads_before, failing_before = route.call_count, failing.call_count

    assert await round_at(bot, due + timedelta(seconds=1)) == 2

    posted = digest_posts(bot.slack)
    assert sorted(call.data["channel"] for call in posted) == [CHANNEL, OTHER_CHANNEL]
    for call in posted:
        sections = [b["text"]["text"] for b in blocks_of(call) if b["type"] == "section"]
        [prod] = [section for section in sections if "*prod*" in section]
        [music] = [section for section in sections if "*music*" in section]
        assert (
            "top: Midjourney Imagine 62 %, Midjourney Describe 30 %, Midjourney Blend 8 %" in prod
        )
        assert "Midjourney Video" not in prod  # yesterday's
        assert "top:" not in music
        assert "Suno: remaining 493.22 Credits" in music
    assert route.call_count - reads_before == 1
    request = route.calls.last.request
    assert request.url.params["timezone"] == "UTC"
    midnight = datetime.combine(due.date(), time(0), tzinfo=UTC)
    assert request.url.params["created_at_from"] == midnight.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert failing.call_count > failing_before  # tried, and its failure cost only the "top"
    with db.connect() as connection:
        outcomes = connection.scalars(select(DigestDelivery.__table__.c.outcome)).all()
    assert outcomes == ["sent", "sent"]


# ---------------------------------------------------------------------------------------------
# 10. buttons on a digest


async def test_refresh_on_a_digest_updates_the_whole_digest_in_place(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    await round_at(bot, due + timedelta(seconds=1))
    [posted] = digest_posts(bot.slack)
    digest = {"blocks": blocks_of(posted), "text": posted.data.get("text")}
    mock_quota(acedata, APP_ID, title="Midjourney", remaining=100)

    key = await bot.press(digest, REFRESH_ACTION, user=MEMBER, message_ts=POSTED_TS)
    updated = await bot.slack.wait_for_call("chat.update")
    await bot.settle()

    assert (updated.data["channel"], updated.data["ts"]) == (CHANNEL, POSTED_TS)
    blocks = blocks_of(updated)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Daily digest at 09:00 UTC"
    shown = "\n".join(texts(blocks))
    assert "1 alias · 0 low · 0 exhausted · global balance 1,234.50 Credits" in shown
    assert "Midjourney: remaining 100.00 Credits" in shown
    assert [b["block_id"] for b in blocks if b["type"] == "actions"] == [
        b["block_id"] for b in digest["blocks"] if b["type"] == "actions"
    ]
    # Not replaced by a lone card through the response_url, and nothing posted anew.
    assert bot.slack.responses.get(key, []) == []
    assert len(bot.slack.calls_to("chat.update")) == 1
    assert len(digest_posts(bot.slack)) == 1


async def test_refreshing_a_late_digest_keeps_it_marked_late_and_shares_recent_reads(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    """The digest as sent stays as sent (late, and its change since the digest before), and
    refreshing it again and again within half a minute reads each alias once."""
    bot = linked
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    await round_at(bot, due + timedelta(minutes=20))
    [posted] = digest_posts(bot.slack)
    digest = {"blocks": blocks_of(posted), "text": posted.data.get("text")}
    assert "Sent late" in "\n".join(texts(digest["blocks"]))
    route = mock_quota(acedata, APP_ID, title="Midjourney", remaining=100)
    reads_before = route.call_count  # respx keeps one route per pattern: earlier reads count

    for press in (1, 2, 3):
        await bot.press(digest, REFRESH_ACTION, user=MEMBER, message_ts=POSTED_TS)
        await bot.slack.wait_for_call("chat.update", count=press)
    await bot.settle()

    for updated in bot.slack.calls_to("chat.update"):
        shown = "\n".join(texts(blocks_of(updated)))
        assert f"Sent late: this was due <!date^{int(due.timestamp())}^" in shown
        assert "remaining 100.00 Credits" in shown
    assert route.call_count == reads_before + 1


async def test_a_thread_slack_refuses_once_is_continued_and_the_digest_not_posted_again(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    link_many(db, 60)
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    bot.slack.thread_failures = 1

    assert await round_at(bot, due + timedelta(seconds=1)) == 1

    first, *replies = digest_posts(bot.slack)
    assert "thread_ts" not in first.data and all("thread_ts" in r.data for r in replies)
    assert len(replies) >= 2  # the refused reply, then the thread again
    assert {(row["outcome"], row["slack_error"]) for row in delivery_rows(db)} == {("sent", None)}


async def test_switching_the_fallback_on_a_digest_updates_the_digest_and_notes_it_in_its_thread(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    bot = linked
    fake = FakeApplication(acedata)
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC))
    await round_at(bot, due + timedelta(seconds=1))
    [posted] = digest_posts(bot.slack)
    digest = {"blocks": blocks_of(posted), "text": posted.data.get("text")}
    assert "global fallback OFF" in "\n".join(texts(digest["blocks"]))

    key = await bot.press_switch(digest, TOGGLE_ACTION, user=ADMIN, message_ts=POSTED_TS)
    updated = await bot.slack.wait_for_call("chat.update")
    await bot.settle()

    assert fake.posts == [{"allow_consume_global": True}]
    assert (updated.data["channel"], updated.data["ts"]) == (CHANNEL, POSTED_TS)
    blocks = blocks_of(updated)
    assert blocks[0]["text"]["text"] == "Daily digest at 09:00 UTC"
    shown = "\n".join(texts(blocks))
    assert "global fallback ON" in shown
    assert "Disable global fallback" in button_labels(blocks)
    [note] = [
        call
        for call in bot.slack.calls_to("chat.postMessage")
        if call.data.get("thread_ts") == POSTED_TS
    ]
    assert note.data["channel"] == CHANNEL
    assert f"<@{ADMIN}> enabled global fallback for *prod*" in note.data["text"]
    assert bot.slack.responses.get(key, []) == []


async def test_a_digest_slack_rate_limits_is_posted_after_the_wait(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC) - timedelta(days=1))
    bot.slack.calls.clear()
    bot.slack.rate_limits["chat.postMessage"] = 1

    assert await round_at(bot, due + timedelta(seconds=1)) == 1

    assert len(bot.slack.calls_to("chat.postMessage")) == 2  # refused once, then posted
    [delivery] = delivery_rows(db)
    assert (delivery["outcome"], delivery["slack_error"]) == ("sent", None)


async def test_a_claim_whose_digest_was_posted_is_never_sent_again(
    linked: BotClient, db: Engine
) -> None:
    bot = linked
    slot = await abandoned_claim(bot, db, attempts=1)
    with db.begin() as connection:
        connection.execute(update(DigestDelivery.__table__).values(message_ts="1700000000.000999"))
    bot.slack.calls.clear()

    await round_at(bot, slot + timedelta(minutes=30))

    assert digest_posts(bot.slack) == []
    [delivery] = delivery_rows(db)
    assert (delivery["outcome"], delivery["message_ts"]) == ("sent", "1700000000.000999")


@pytest.mark.parametrize("settings_overrides", [{"digest_lease_seconds": 1}])
async def test_an_error_page_from_slack_is_tried_again_then_recorded_not_crashed_on(
    linked: BotClient, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy's 502 page, not Slack's JSON: Slack not answering. Tried again while the slot's
    lease lasts, once more by the next claim, then recorded with what Slack said."""
    bot = linked
    due = await schedule_directly(bot, CHANNEL, now=datetime.now(UTC), user=ADMIN)
    bot.slack.http_errors["chat.postMessage"] = 502

    assert await round_at(bot, due + timedelta(seconds=1)) == 1
    tries = len(bot.slack.calls_to("chat.postMessage"))
    assert {row["outcome"] for row in delivery_rows(db)} == {"claimed"}
    assert await round_at(bot, due + timedelta(seconds=10)) == 1

    assert tries > 1
    assert len(bot.slack.calls_to("chat.postMessage")) > tries
    assert {(row["outcome"], row["slack_error"]) for row in delivery_rows(db)} == {
        ("failed", "http_502")
    }
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_round_sends_every_due_digest_however_many_claims_it_takes(
    linked: BotClient, db: Engine
) -> None:
    """Claims are made a hundred at a time; a round keeps claiming until none is due, so 250
    channels at 09:00 all get theirs at 09:00."""
    bot = linked
    now = datetime.now(UTC)
    channels = [f"C{2000 + n}" for n in range(250)]
    dues = {await schedule_directly(bot, channel, now=now) for channel in channels}
    [due] = dues
    bot.slack.calls.clear()

    assert await round_at(bot, due + timedelta(seconds=1)) == 250

    assert sorted(call.data["channel"] for call in digest_posts(bot.slack)) == channels
