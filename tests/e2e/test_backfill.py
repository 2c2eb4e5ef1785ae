"""Backfilling a sparse history from Ace Data Cloud's daily usage when a digest or an alert is
set up: worked-out daily readings when the usage aggregate answers sensibly, the bot's own
readings alone (and one warning per process) when it does not."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest
import respx
from sqlalchemy import Engine, select

from bot.acedata import AceDataClient, Application, DailyUsage, MalformedResponse
from bot.db.models import Observation as ObservationRow
from bot.runtime import Runtime
from bot.services.backfill import UnusableUsage, backfill_if_sparse, backfilled_history
from bot.services.forecast import Observation
from tests.support.client import (
    ACEDATA_API,
    ADMIN,
    APP_ID,
    MEMBER,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    BotClient,
    application,
)
from tests.support.factories import as_utc
from tests.support.server import ACEDATA_BASE
from tests.support.slack_server import TEAM_ID

# What `mock_quota` (the `linked` fixture) answers for APP_ID.
USED = Decimal("21.778999999999996")
REMAINING = Decimal("493.2210000000001")
AGGREGATE = "/usage/apis/aggregate/"


# ---------------------------------------------------------------------------------------------
# helpers


def stored(db: Engine, app_id: str = APP_ID) -> list[tuple[datetime, Decimal, Decimal]]:
    """The application's readings as stored: (time, remaining, used), oldest first."""
    table = ObservationRow.__table__
    with db.connect() as connection:
        rows = connection.execute(
            select(table.c.observed_at, table.c.remaining, table.c.used)
            .where(table.c.application_id == app_id)
            .order_by(table.c.observed_at)
        ).all()
    return [(as_utc(at), Decimal(remaining), Decimal(used)) for at, remaining, used in rows]


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def expected_history(usage: dict[date, Decimal], today: date) -> list[tuple[datetime, ...]]:
    """Worked out here, day by day, from the first day of the window to yesterday."""
    rows = []
    for offset in range(7, 0, -1):
        day = today - timedelta(days=offset)
        after = sum((amount for when, amount in usage.items() if when > day), Decimal(0))
        rows.append((end_of(day), REMAINING + after, USED - after))
    return rows


def aggregate_route(acedata: respx.MockRouter, app_id: str = APP_ID) -> respx.Route:
    return acedata.get(AGGREGATE, params__contains={"application_id": app_id})


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name.startswith("bot")
    ]


# ---------------------------------------------------------------------------------------------
# 1, 2. a digest or an alert on an application without history


async def test_a_digest_backfills_seven_days_and_the_card_then_has_a_burn_rate(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    today = datetime.now(UTC).date()
    day = lambda offset: today - timedelta(days=offset)  # noqa: E731
    items = [
        {"date": day(0).isoformat(), "api_id": "a", "amount": 0.5},
        {"date": day(1).isoformat(), "api_id": "a", "amount": 2},
        {"date": day(1).isoformat(), "api_id": "b", "amount": "1"},  # one day, two APIs
        {"date": day(2).isoformat(), "amount": "2.25"},
        # day 3: no entry, so nothing used
        {"date": day(4).isoformat(), "amount": 1.125},
        {"date": day(5).isoformat(), "amount": " 4 "},
        {"date": day(6).isoformat(), "amount": 0},
        {"date": day(7).isoformat(), "amount": "1.5"},
        {"date": day(9).isoformat(), "amount": "5"},  # before the window: no reading
        {"date": day(2).isoformat(), "application_id": OTHER_APP_ID, "amount": "99"},
    ]
    route = aggregate_route(acedata).respond(json={"count": len(items), "items": items})

    reply = await bot.quota("digest daily 09:00 UTC", user=ADMIN)
    assert reply is not None and "09:00" in reply.text
    await bot.settle()

    usage = {
        day(0): Decimal("0.5"),
        day(1): Decimal(3),
        day(2): Decimal("2.25"),
        day(4): Decimal("1.125"),
        day(5): Decimal(4),
        day(6): Decimal(0),
        day(7): Decimal("1.5"),
        day(9): Decimal(5),
    }
    history = stored(db)
    assert history == expected_history(usage, today)
    assert history[0] == (end_of(day(7)), REMAINING + Decimal("10.875"), USED - Decimal("10.875"))
    assert history[-1] == (end_of(day(1)), REMAINING + Decimal("0.5"), USED - Decimal("0.5"))
    assert {remaining + used for _, remaining, used in history} == {REMAINING + USED}

    [call] = route.calls
    params = call.request.url.params
    assert params["application_id"] == APP_ID
    assert params["created_at_from"] == f"{day(7).isoformat()}T00:00:00Z"
    assert params["created_at_to"].startswith(today.isoformat())
    assert call.request.headers["authorization"] == f"Bearer {PLATFORM_TOKEN}"

    card = await bot.quota("prod", user=MEMBER)
    assert card is not None
    assert "Not enough history yet" not in card.text
    assert "Credits/day" in card.text
    assert "last 7 days" in card.text


async def test_an_alert_backfills_from_results_with_string_amounts(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    today = datetime.now(UTC).date()
    usage = {today - timedelta(days=offset): Decimal(f"1.{offset}") for offset in range(8)}
    aggregate_route(acedata).respond(
        json={
            "results": [
                {"day": day.isoformat(), "used_amount": str(amount)}
                for day, amount in usage.items()
            ]
        }
    )

    reply = await bot.quota("alert prod below 10%", user=ADMIN)
    assert reply is not None and "Alert set: *prod* below" in reply.text
    await bot.settle()

    assert stored(db) == expected_history(usage, today)
    card = await bot.quota("prod", user=MEMBER)
    assert card is not None
    assert "Not enough history yet" not in card.text
    assert "Credits/day" in card.text


async def test_a_digest_backfills_each_application_of_the_channel_once(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    await bot.quota(f"link music {OTHER_APP_ID}", user=ADMIN)
    await bot.quota(f"link prod2 {APP_ID} --workspace", user=ADMIN)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    ours = aggregate_route(acedata).respond(json=[{"created_at": yesterday, "value": "1"}])
    theirs = aggregate_route(acedata, OTHER_APP_ID).respond(
        json=[{"created_at": f"{yesterday}T00:00:00+08:00", "count": 2}]
    )

    await bot.quota("digest daily 09:00 UTC", user=ADMIN)
    await bot.settle()

    assert (ours.call_count, theirs.call_count) == (1, 1)
    assert len(stored(db)) == 1
    assert len(stored(db, OTHER_APP_ID)) == 1


# ---------------------------------------------------------------------------------------------
# 3, 5. an aggregate that cannot be used


FAILURES: dict[str, httpx.Response | Exception] = {
    "403": httpx.Response(
        403, json={"error": {"code": "forbidden", "message": "no usage for you"}}
    ),
    "404": httpx.Response(404, json={"detail": "Not found."}),
    "500": httpx.Response(500, json={"detail": "boom"}),
    "html": httpx.Response(200, text="<html><body>Login</body></html>"),
    "unexpected": httpx.Response(200, json={"unexpected": True}),
    "items not a list": httpx.Response(200, json={"items": {"date": "2024-01-01"}}),
    "missing amount": httpx.Response(200, json={"items": [{"date": "2024-01-01"}]}),
    "garbage amount": httpx.Response(
        200, json={"items": [{"date": "2024-01-01", "amount": "lots"}]}
    ),
    "NaN amount": httpx.Response(200, json={"items": [{"date": "2024-01-01", "amount": "NaN"}]}),
    "negative amount": httpx.Response(200, json=[{"date": "2024-01-01", "amount": -3}]),
    "boolean amount": httpx.Response(200, json=[{"date": "2024-01-01", "amount": True}]),
    "garbage date": httpx.Response(200, json=[{"date": "yesterday", "amount": 1}]),
    "more than used": httpx.Response(
        200,
        json=[{"date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(), "amount": 22}],
    ),
    "timeout": httpx.ConnectTimeout("too slow"),
}


@pytest.mark.parametrize("answer", FAILURES.values(), ids=FAILURES.keys())
async def test_an_unusable_aggregate_leaves_the_setup_alone_and_warns_once(
    linked: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    answer: httpx.Response | Exception,
) -> None:
    bot = linked
    route = aggregate_route(acedata)
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    caplog.clear()

    digest = await bot.quota("digest daily 09:00 UTC", user=ADMIN)
    await bot.settle()
    alert = await bot.quota("alert prod below 10%", user=ADMIN)
    await bot.settle()

    assert digest is not None and "09:00" in digest.text
    assert alert is not None and "Alert set: *prod* below" in alert.text
    assert route.call_count >= 2  # both setups asked
    assert stored(db) == []
    [warning] = warnings(caplog)
    assert "usage aggregate cannot be used" in warning
    assert APP_ID in warning

    card = await bot.quota("prod", user=MEMBER)
    assert card is not None and "Not enough history yet" in card.text


async def test_a_token_echoed_by_the_aggregate_is_never_logged(
    linked: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    bot = linked
    caplog.set_level(logging.DEBUG)
    echo = f"token {PLATFORM_TOKEN} (Bearer {PLATFORM_TOKEN}) may not read usage"
    aggregate_route(acedata).mock(
        side_effect=[
            httpx.Response(
                403,
                json={"error": {"code": PLATFORM_TOKEN, "message": echo}, "trace_id": echo},
                headers={"x-trace-id": PLATFORM_TOKEN},
            ),
            httpx.Response(200, json={"items": [{"date": PLATFORM_TOKEN, "amount": echo}]}),
        ]
    )

    await bot.quota("digest daily 09:00 UTC", user=ADMIN)
    await bot.settle()
    await bot.quota("alert prod below 10%", user=ADMIN)
    await bot.settle()

    assert len(warnings(caplog)) == 1
    assert "[redacted]" in caplog.text
    secret = PLATFORM_TOKEN.removeprefix("platform-v1-")
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.args)


# ---------------------------------------------------------------------------------------------
# 4. history enough already


async def test_an_application_with_history_is_not_backfilled(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    route = aggregate_route(acedata).respond(json={"items": []})
    with db.begin() as connection:  # a reading from earlier today
        connection.execute(
            ObservationRow.__table__.insert(),
            {
                "team_id": TEAM_ID,
                "application_id": APP_ID,
                "remaining": "500",
                "used": "15",
                "allow_consume_global": False,
                "observed_at": datetime.now(UTC) - timedelta(hours=2),
            },
        )
    await bot.quota("prod", user=MEMBER)
    await bot.quota("prod", user=MEMBER)  # a minute has not passed: not stored again
    await bot.settle()
    before = stored(db)
    assert len(before) == 2

    await bot.quota("digest daily 09:00 UTC", user=ADMIN)
    await bot.quota("alert prod below 10%", user=ADMIN)
    await bot.settle()

    assert route.call_count == 0
    assert stored(db) == before


async def test_one_reading_is_still_too_little_and_a_second_backfill_adds_nothing(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).date()
    acedata.get(f"/applications/{APP_ID}").respond(json=application())
    route = aggregate_route(acedata).respond(json=[{"date": yesterday.isoformat(), "amount": 1}])
    # Another team's readings do not count.
    with db.begin() as connection:
        connection.execute(
            ObservationRow.__table__.insert(),
            [
                {
                    "team_id": "TOTHER",
                    "application_id": APP_ID,
                    "remaining": "1",
                    "used": "1",
                    "observed_at": now - timedelta(hours=hours),
                }
                for hours in (1, 2)
            ],
        )

    first = await backfill_if_sparse(
        runtime.acedata, runtime.db, PLATFORM_TOKEN, team_id=TEAM_ID, application_id=APP_ID
    )
    # One reading of this team (the one just stored): still sparse, asked again, nothing new.
    second = await backfill_if_sparse(
        runtime.acedata, runtime.db, PLATFORM_TOKEN, team_id=TEAM_ID, application_id=APP_ID
    )

    assert (first, second, route.call_count) == (1, 0, 2)
    assert (end_of(yesterday), REMAINING, USED) in stored(db)


# ---------------------------------------------------------------------------------------------
# the pieces


async def test_the_client_reads_every_known_shape_exactly(acedata: respx.MockRouter) -> None:
    route = acedata.get(AGGREGATE)
    since, until = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 8, 12, tzinfo=UTC)
    answers = [
        {"items": [{"date": "2024-05-02", "amount": 0.1}, {"date": "2024-05-02", "amount": 0.2}]},
        {"items": None, "results": [{"day": "2024-05-02", "total": "0.30"}]},
        [{"created_at": "2024-05-02T00:00:00Z", "value": 0.3}],
        [{"created_at": "2024-05-02T00:00:00+08:00", "count": "3E-1"}],
    ]
    async with AceDataClient(ACEDATA_BASE, backoff_base=0.001) as client:
        for answer in answers:
            route.respond(json=answer)
            usage = await client.daily_usage(PLATFORM_TOKEN, APP_ID, since=since, until=until)
            assert usage == [DailyUsage(day=date(2024, 5, 2), amount=Decimal("0.3"))]
        route.respond(json={"items": []})
        assert await client.daily_usage(PLATFORM_TOKEN, APP_ID, since=since, until=until) == []
        route.respond(json={"items": [{"amount": 1}]})
        with pytest.raises(MalformedResponse, match="no day"):
            await client.daily_usage(PLATFORM_TOKEN, APP_ID, since=since, until=until)
    assert str(route.calls[0].request.url).startswith(ACEDATA_API + AGGREGATE)


def test_history_is_worked_out_from_the_first_day_the_usage_covers() -> None:
    today = date(2024, 5, 10)
    app = Application.model_validate(application(remaining="100", used="50"))
    usage = [
        DailyUsage(day=date(2024, 5, 6), amount=Decimal("2")),
        DailyUsage(day=date(2024, 5, 8), amount=Decimal("3")),
        DailyUsage(day=date(2024, 5, 11), amount=Decimal("1")),  # the server's day, ahead of UTC
    ]

    points = backfilled_history(usage, app, today=today)

    assert points == [
        Observation(end_of(date(2024, 5, 6)), Decimal("104"), Decimal("46")),
        Observation(end_of(date(2024, 5, 7)), Decimal("104"), Decimal("46")),
        Observation(end_of(date(2024, 5, 8)), Decimal("101"), Decimal("49")),
        Observation(end_of(date(2024, 5, 9)), Decimal("101"), Decimal("49")),
    ]
    assert backfilled_history([], app, today=today) == []
    assert backfilled_history(usage[2:], app, today=today) == []
    with pytest.raises(UnusableUsage):
        backfilled_history(
            [DailyUsage(day=date(2024, 5, 9), amount=Decimal("51"))], app, today=today
        )


async def test_the_setup_is_answered_before_the_backfill_is_done(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    release = asyncio.Event()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=[{"date": yesterday, "amount": 1}])

    aggregate_route(acedata).mock(side_effect=slow)

    reply = await bot.quota("alert prod below 10%", user=ADMIN)
    assert reply is not None and "Alert set" in reply.text
    assert stored(db) == []
    release.set()
    await bot.settle()
    assert len(stored(db)) == 1


async def test_an_aggregate_slower_than_the_deadline_is_given_up(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    async def slower(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=[])

    aggregate_route(acedata).mock(side_effect=slower)
    started = asyncio.get_running_loop().time()
    added = await backfill_if_sparse(
        runtime.acedata,
        runtime.db,
        PLATFORM_TOKEN,
        team_id=TEAM_ID,
        application_id=APP_ID,
        deadline=0.2,
    )
    assert added == 0
    assert asyncio.get_running_loop().time() - started < 1
    assert stored(db) == []
    [warning] = warnings(caplog)
    assert "UpstreamTimeout" in warning
