"""`digests.deliver` and `alerts.check` on their own: the never-twice protocols with a fake
Slack (`send`, `notify`, `tell`) on the real test database. What a channel would see twice, or
never, is what these assert."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import respx
from sqlalchemy import Engine, text

from bot.db.database import Database, DatabaseUnavailable
from bot.runtime import Runtime
from bot.services import alerts, digests
from bot.services.alert_levels import Level, Threshold
from bot.services.aliases import link, unlink
from bot.services.delivery import Posted
from bot.services.errors import NoTokenConfigured
from bot.services.rounds import Round
from bot.services.schedules import Schedule
from bot.services.workspaces import save_token
from tests.support.client import ADMIN, APP_ID, CHANNEL, PLATFORM_TOKEN, mock_quota
from tests.support.slack_server import TEAM_ID

T = TypeVar("T")
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class FlakyDatabase(Database):
    """The real database, with outages on demand: while `down` is set, or for the next
    `failures` units of work, each fails as a stopped database would."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.engine, timeout=db.timeout)
        self.down = False
        self.failures = 0

    async def run(self, work: Callable[[Any], Awaitable[T]], **options: Any) -> T:
        if self.down or self.failures > 0:
            self.failures = max(0, self.failures - 1)
            raise DatabaseUnavailable("OperationalError: the database stopped answering")
        return await super().run(work, **options)


@dataclass
class FakeSlack:
    """Stands in for the channel: what was posted, and who was told. `answers` are given in
    turn, the last one for good."""

    answers: list[Posted] = field(default_factory=lambda: [Posted("1700000000.000100")])
    posts: list[str] = field(default_factory=list)
    told: list[tuple[str, str]] = field(default_factory=list)
    resumed: list[Posted | None] = field(default_factory=list)
    before_posted: Callable[[], None] = lambda: None
    after_post: Callable[[], None] = lambda: None

    async def send(
        self,
        slot: digests.ClaimedSlot,
        posted: Callable[[str], Awaitable[None]],
        resume: Posted | None = None,
    ) -> Posted:
        answer = self.answers[min(len(self.posts), len(self.answers) - 1)]
        self.posts.append(slot.setup.channel_id)
        self.resumed.append(resume)
        if answer.ts is not None and resume is None:
            self.before_posted()
            await posted(answer.ts)
        self.after_post()
        return answer

    async def tell(self, setup: digests.DigestSetup, error: str) -> None:
        self.told.append((setup.created_by, error))


async def claimed_slot(db: Database) -> digests.ClaimedSlot:
    await digests.set_schedule(
        db,
        team_id=TEAM_ID,
        channel_id=CHANNEL,
        schedule=Schedule("daily", time(9, 0), ZoneInfo("UTC")),
        now=NOW - timedelta(hours=1),
        user_id=ADMIN,
    )
    (slot,) = await digests.claim_due(db, now=NOW)
    return slot


def how(slack: FakeSlack, **options: Any) -> digests.Delivery:
    return digests.Delivery(
        send=slack.send, tell=slack.tell, clock=lambda: NOW, backoff=0.0, **options
    )


async def deliver(db: Database, slot: digests.ClaimedSlot, slack: FakeSlack) -> Posted | None:
    return await digests.deliver(db, slot, how(slack))


def delivery_row(db: Engine) -> tuple[Any, ...]:
    with db.connect() as connection:
        return tuple(
            connection.execute(
                text("SELECT outcome, message_ts, slack_error FROM digest_deliveries")
            ).one()
        )


async def claimed_again_after_the_lease(db: Database) -> list[digests.ClaimedSlot]:
    return await digests.claim_due(db, now=NOW + digests.LEASE + timedelta(minutes=1))


async def test_a_slot_taken_over_by_another_worker_is_not_sent(runtime: Runtime) -> None:
    slot = await claimed_slot(runtime.db)
    (taken_over,) = await claimed_again_after_the_lease(runtime.db)
    slack = FakeSlack()

    assert await deliver(runtime.db, slot, slack) is None
    assert slack.posts == []
    assert taken_over.attempt == slot.attempt + 1


async def test_a_digest_sent_is_recorded_and_never_claimed_again(
    runtime: Runtime, db: Engine
) -> None:
    slot = await claimed_slot(runtime.db)
    slack = FakeSlack()

    assert await deliver(runtime.db, slot, slack) == Posted("1700000000.000100")
    assert slack.posts == [CHANNEL]
    assert delivery_row(db) == ("sent", "1700000000.000100", None)
    assert await claimed_again_after_the_lease(runtime.db) == []


async def test_posted_but_not_marked_is_recorded_with_its_outcome(
    runtime: Runtime, db: Engine
) -> None:
    """The database stops as Slack takes the post and is back for the outcome: the ts is
    recorded with it, and the slot is not sent again."""
    flaky = FlakyDatabase(runtime.db)
    slot = await claimed_slot(flaky)
    slack = FakeSlack()
    slack.before_posted = lambda: setattr(flaky, "down", True)
    slack.after_post = lambda: setattr(flaky, "down", False)

    await digests.deliver(flaky, slot, how(slack))

    assert slack.posts == [CHANNEL]
    assert delivery_row(db) == ("sent", "1700000000.000100", None)
    assert await claimed_again_after_the_lease(runtime.db) == []


async def test_a_long_outage_after_the_post_is_waited_out_and_never_sends_twice(
    runtime: Runtime, db: Engine
) -> None:
    """Slack took the digest, then the database fails far more often than a few retries: the
    worker keeps trying to record the post until it can, and no later claim sends it again."""
    flaky = FlakyDatabase(runtime.db)
    slot = await claimed_slot(flaky)
    slack = FakeSlack()
    slack.before_posted = lambda: setattr(flaky, "failures", 12)

    await digests.deliver(flaky, slot, how(slack))

    assert flaky.failures == 0
    assert slack.posts == [CHANNEL]
    assert delivery_row(db) == ("sent", "1700000000.000100", None)
    assert await claimed_again_after_the_lease(runtime.db) == []


async def test_a_post_the_database_never_takes_before_shutdown_is_logged_as_such(
    runtime: Runtime, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyDatabase(runtime.db)
    slot = await claimed_slot(flaky)
    slack = FakeSlack()
    slack.before_posted = lambda: setattr(flaky, "down", True)
    stopping = False

    def stop_after_some_tries() -> bool:
        return stopping

    async def send(s: digests.ClaimedSlot, posted: Callable[[str], Awaitable[None]]) -> Posted:
        nonlocal stopping
        result = await slack.send(s, posted)
        stopping = True  # the worker is told to stop while the database is down
        return result

    await digests.deliver(
        flaky,
        slot,
        digests.Delivery(
            send=send,
            tell=slack.tell,
            clock=lambda: NOW,
            backoff=0.0,
            stopping=stop_after_some_tries,
        ),
    )

    assert slack.posts == [CHANNEL]
    assert "may be sent again" in caplog.text


async def test_a_slack_outage_is_tried_again_within_the_lease_then_sent_once(
    runtime: Runtime, db: Engine
) -> None:
    """One 503 and a dropped connection, then Slack answers: one digest in the channel."""
    slot = await claimed_slot(runtime.db)
    slack = FakeSlack(
        answers=[
            Posted(None, "http_503", retry=True),
            Posted(None, "ServerDisconnectedError", retry=True),
            Posted("1700000000.000100"),
        ]
    )

    await deliver(runtime.db, slot, slack)

    assert len(slack.posts) == 3
    assert delivery_row(db) == ("sent", "1700000000.000100", None)
    assert slack.told == []


async def test_a_thread_cut_short_is_continued_not_posted_again(
    runtime: Runtime, db: Engine
) -> None:
    """The digest's first message is in, Slack fails on its thread: the thread is continued
    where it stopped, and the slot is recorded sent once it is whole."""
    slot = await claimed_slot(runtime.db)
    cut = Posted("1700000000.000100", "http_503", retry=True, parts=1)
    slack = FakeSlack(answers=[cut, Posted("1700000000.000100", parts=3)])

    await deliver(runtime.db, slot, slack)

    assert slack.resumed == [None, cut]
    assert delivery_row(db) == ("sent", "1700000000.000100", None)


async def test_a_thread_slack_never_takes_is_recorded_partial(runtime: Runtime, db: Engine) -> None:
    slot = await claimed_slot(runtime.db)
    cut = Posted("1700000000.000100", "http_503", retry=True, parts=1)
    slack = FakeSlack(answers=[cut])
    clock = iter([NOW, *(NOW + timedelta(minutes=n) for n in range(1, 60))])

    await digests.deliver(
        runtime.db,
        slot,
        digests.Delivery(send=slack.send, tell=slack.tell, clock=lambda: next(clock), backoff=0.0),
    )

    assert delivery_row(db) == ("partial", "1700000000.000100", "http_503")
    assert await claimed_again_after_the_lease(runtime.db) == []


async def test_a_slack_outage_longer_than_the_lease_leaves_the_slot_for_one_more_try(
    runtime: Runtime, db: Engine
) -> None:
    slot = await claimed_slot(runtime.db)
    slack = FakeSlack(answers=[Posted(None, "http_503", retry=True)])
    clock = iter([NOW, *(NOW + timedelta(minutes=n) for n in range(1, 60))])

    await digests.deliver(
        runtime.db,
        slot,
        digests.Delivery(send=slack.send, tell=slack.tell, clock=lambda: next(clock), backoff=0.0),
    )

    assert delivery_row(db) == ("claimed", None, None)
    (again,) = await claimed_again_after_the_lease(runtime.db)
    assert again.attempt == 2
    assert slack.told == []


async def test_a_channel_gone_pauses_the_digest_and_tells_who_set_it_once(
    runtime: Runtime, db: Engine
) -> None:
    slot = await claimed_slot(runtime.db)
    slack = FakeSlack(answers=[Posted(None, "channel_not_found")])

    await deliver(runtime.db, slot, slack)

    assert slack.told == [(ADMIN, "channel_not_found")]
    assert delivery_row(db) == ("failed", None, "channel_not_found")
    with db.connect() as connection:
        paused = connection.execute(text("SELECT paused_reason FROM digest_schedules")).scalar()
    assert paused == "channel_not_found"


async def test_another_slack_refusal_tells_nobody_and_keeps_the_schedule(
    runtime: Runtime, db: Engine
) -> None:
    slot = await claimed_slot(runtime.db)
    slack = FakeSlack(answers=[Posted(None, "not_allowed_token_type")])

    await deliver(runtime.db, slot, slack)

    assert slack.told == []
    assert delivery_row(db) == ("failed", None, "not_allowed_token_type")
    with db.connect() as connection:
        paused = connection.execute(text("SELECT paused_reason FROM digest_schedules")).scalar()
    assert paused is None


# ---------------------------------------------------------------------------------------------
# alerts.check


@dataclass
class FakeChannel:
    answer: Posted = field(default_factory=lambda: Posted("1700000000.000200"))
    said: list[Level | None] = field(default_factory=list)
    told: list[tuple[str, str]] = field(default_factory=list)

    async def notify(self, check: alerts.Check) -> Posted:
        self.said.append(check.decision.post)
        return self.answer

    async def tell(self, watch: alerts.Watch, error: str) -> None:
        self.told.append((watch.created_by, error))


async def claimed_watch(runtime: Runtime, acedata: respx.MockRouter) -> alerts.Watch:
    mock_quota(acedata, remaining=5)
    await save_token(
        runtime.db, team_id=TEAM_ID, token=PLATFORM_TOKEN, account="acme", user_id=ADMIN
    )
    await link(
        runtime.db,
        team_id=TEAM_ID,
        channel_id=CHANNEL,
        name="prod",
        application_id=APP_ID,
        user_id=ADMIN,
    )
    await alerts.set_alert(
        runtime.db,
        team_id=TEAM_ID,
        channel_id=CHANNEL,
        alias="prod",
        threshold=Threshold("amount", Decimal(100)),
        now=NOW,
        user_id=ADMIN,
    )
    (watch,) = await alerts.claim_due(
        runtime.db, now=NOW + timedelta(hours=1), every=timedelta(minutes=5)
    )
    return watch


async def check(runtime: Runtime, watch: alerts.Watch, channel: FakeChannel) -> alerts.Check | None:
    round_ = Round(runtime.acedata, runtime.db)
    return await alerts.check(
        runtime.db,
        round_,
        watch,
        channel.notify,
        token=lambda team_id: round_.token(team_id, None),
        tell=channel.tell,
        now=NOW + timedelta(hours=1),
    )


def alert_row(db: Engine) -> tuple[Any, ...]:
    with db.connect() as connection:
        return tuple(connection.execute(text("SELECT said, paused_reason FROM quota_alerts")).one())


async def test_an_alert_told_is_saved_and_not_told_again(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    watch = await claimed_watch(runtime, acedata)
    channel = FakeChannel()

    await check(runtime, watch, channel)
    (again,) = await alerts.claim_due(
        runtime.db, now=NOW + timedelta(hours=2), every=timedelta(minutes=5)
    )
    await check(runtime, again, channel)

    assert channel.said == [Level.LOW]
    assert alert_row(db) == (int(Level.LOW), None)


async def test_an_alert_not_posted_keeps_its_state_to_try_again(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    watch = await claimed_watch(runtime, acedata)
    channel = FakeChannel(answer=Posted(None, "ServerDisconnectedError"))

    await check(runtime, watch, channel)

    assert channel.said == [Level.LOW]
    assert channel.told == []
    assert alert_row(db) == (int(Level.OK), None)


async def test_an_alert_in_a_channel_gone_is_paused_and_its_setter_told(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    watch = await claimed_watch(runtime, acedata)
    channel = FakeChannel(answer=Posted(None, "not_in_channel"))

    await check(runtime, watch, channel)

    assert channel.told == [(ADMIN, "not_in_channel")]
    assert alert_row(db) == (int(Level.OK), "not_in_channel")


async def test_an_alert_that_cannot_be_read_is_skipped_without_a_word(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    watch = await claimed_watch(runtime, acedata)
    acedata.get(f"/applications/{APP_ID}").respond(502)
    channel = FakeChannel()

    assert await check(runtime, watch, channel) is None
    assert channel.said == []
    assert alert_row(db) == (int(Level.OK), None)


async def test_an_alert_whose_alias_is_gone_is_paused_after_a_few_rounds_and_told_once(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    watch = await claimed_watch(runtime, acedata)
    await unlink(
        runtime.db, team_id=TEAM_ID, channel_id=CHANNEL, name="prod", workspace=False, user_id=ADMIN
    )
    channel = FakeChannel()

    for _ in range(alerts.PAUSE_AFTER + 2):
        await check(runtime, watch, channel)

    assert channel.said == []
    assert channel.told == [(ADMIN, alerts.ALIAS_GONE)]
    assert alert_row(db) == (int(Level.OK), alerts.ALIAS_GONE)
    (listed,) = await alerts.channel_alerts(runtime.db, team_id=TEAM_ID, channel_id=CHANNEL)
    assert listed.paused_reason == alerts.ALIAS_GONE


async def test_an_alert_checked_again_starts_its_count_of_failed_rounds_over(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    watch = await claimed_watch(runtime, acedata)
    channel = FakeChannel()
    round_ = Round(runtime.acedata, runtime.db)

    async def no_token(team_id: str) -> str:
        raise NoTokenConfigured()

    for _ in range(alerts.PAUSE_AFTER - 1):
        await alerts.check(
            runtime.db, round_, watch, channel.notify, token=no_token, tell=channel.tell, now=NOW
        )
    (again,) = await alerts.claim_due(
        runtime.db, now=NOW + timedelta(hours=3), every=timedelta(minutes=5)
    )
    await check(runtime, again, channel)
    (later,) = await alerts.claim_due(
        runtime.db, now=NOW + timedelta(hours=4), every=timedelta(minutes=5)
    )
    for _ in range(alerts.PAUSE_AFTER - 1):
        await alerts.check(
            runtime.db, round_, later, channel.notify, token=no_token, tell=channel.tell, now=NOW
        )

    assert channel.told == []
    assert alert_row(db)[1] is None
