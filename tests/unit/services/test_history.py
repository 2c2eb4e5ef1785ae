"""Quota history kept in the database: full for 14 days, hourly to 90, nothing older."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from bot.acedata import Application
from bot.runtime import Runtime
from bot.services.history import prune, record_and_read
from tests.support.client import APP_ID, application
from tests.support.slack_server import TEAM_ID


def store(db: Engine, ages: list[timedelta]) -> None:
    now = datetime.now(UTC)
    with db.begin() as connection:
        for age in ages:
            connection.execute(
                text(
                    "INSERT INTO observations (team_id, application_id, remaining, used, "
                    "allow_consume_global, observed_at) VALUES (:team, :app, '1', '1', NULL, :at)"
                ),
                {"team": TEAM_ID, "app": APP_ID, "at": now - age},
            )


def ages_kept(db: Engine) -> list[float]:
    now = datetime.now(UTC)
    with db.connect() as connection:
        rows = connection.execute(text("SELECT observed_at FROM observations")).scalars().all()
    moments = [row if isinstance(row, datetime) else datetime.fromisoformat(row) for row in rows]
    return sorted(
        round((now - moment.replace(tzinfo=moment.tzinfo or UTC)) / timedelta(days=1), 1)
        for moment in moments
    )


async def test_old_history_is_thinned_then_dropped(runtime: Runtime, db: Engine) -> None:
    recent = [timedelta(days=1, minutes=5 * step) for step in range(4)]  # all kept
    # Four readings within one clock hour, 20 days ago: one is kept.
    now = datetime.now(UTC)
    hour = (now - timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
    thinned = [now - (hour + timedelta(minutes=minute)) for minute in (1, 10, 20, 30)]
    store(db, recent + thinned + [timedelta(days=91), timedelta(days=120)])

    gone = await prune(runtime.db)

    assert gone == 5
    kept = ages_kept(db)
    assert [age for age in kept if age < 14] == [1.0, 1.0, 1.0, 1.0]
    assert len([age for age in kept if 14 <= age < 90]) == 1
    assert not [age for age in kept if age >= 90]


async def test_a_burst_of_reads_is_stored_once_a_minute_and_each_sees_itself(
    runtime: Runtime, db: Engine
) -> None:
    start = datetime.now(UTC)

    async def read(seconds: int, remaining: int, allow: bool = False) -> list[str]:
        app = Application.model_validate(application(remaining=remaining, allow=allow))
        history = await record_and_read(
            runtime.db, team_id=TEAM_ID, application=app, at=start + timedelta(seconds=seconds)
        )
        return [str(point.remaining) for point in history]

    assert await read(0, 500) == ["500"]
    assert await read(30, 490) == ["500", "490"]  # seen with this reading, but not stored
    assert await read(45, 480, allow=True) == ["500", "480"]  # the fallback changed: stored
    assert await read(70, 470, allow=True) == ["500", "480", "470"]  # not a minute since 45 s
    assert await read(106, 460, allow=True) == ["500", "480", "460"]

    with db.connect() as connection:
        kept = connection.execute(text("SELECT remaining FROM observations")).scalars().all()
    assert sorted(kept) == ["460", "480", "500"]
