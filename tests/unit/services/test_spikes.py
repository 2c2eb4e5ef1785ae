"""The spike rule: when an episode starts and ends, what is usual, and what cannot be decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import respx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.acedata import Application
from bot.acedata.models import ApiDayAmount, ApiUsage, UsageRecord
from bot.db.models import Observation
from bot.runtime import Runtime
from bot.services.quota import QuotaSnapshot
from bot.services.rounds import Round
from bot.services.spikes import (
    Measure,
    SpikeRound,
    SpikeState,
    breakdown,
    decide,
    is_calm,
    is_spiking,
    measure,
    usual_from_aggregate,
    usual_from_history,
)
from tests.support.client import APP_ID, PLATFORM_TOKEN
from tests.support.slack_server import TEAM_ID

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FOUR = Decimal(4)
# A quota of 100,000: its 1 % floor is 1,000.
QUOTA = Decimal(100_000)


def spent(amount: float, usual: float = 50, quota: Decimal = QUOTA) -> Measure:
    return Measure(Decimal(str(amount)), Decimal(str(usual)), quota)


def run(
    amounts: list[float | None], *, usual: float = 300, state: SpikeState | None = None
) -> tuple[SpikeState, list[str]]:
    """Feed window amounts one check apart (None: not decidable); what was posted."""
    state = state or SpikeState()
    posted: list[str] = []
    for step, amount in enumerate(amounts):
        found = None if amount is None else spent(amount, usual)
        decision = decide(state, found, FOUR, NOW + step * timedelta(minutes=5))
        state = decision.state
        if decision.post is not None:
            posted.append(decision.post)
            if decision.post == "start":
                state = SpikeState(state.episode_started_at, f"ts{step}", state.snoozed_until)
    return state, posted


def test_a_spike_starts_at_n_times_usual_and_one_percent_of_the_quota() -> None:
    assert is_spiking(spent(1200, usual=300), FOUR)  # 4x usual, above the 1 % floor
    assert not is_spiking(spent(1199.99, usual=300), FOUR)  # just under 4x
    assert is_spiking(spent(1000, usual=100), FOUR)  # 10x usual and exactly 1 %
    assert not is_spiking(spent(999, usual=100), FOUR)  # 10x usual, but under 1 % of the quota
    assert not is_spiking(spent(0, usual=0), FOUR)  # nothing spent is never a spike


def test_an_episode_ends_under_half_the_trigger() -> None:
    # Trigger 4 x 300 = 1,200: the episode ends under 600.
    assert not is_calm(spent(600, usual=300), FOUR)
    assert is_calm(spent(599.99, usual=300), FOUR)
    _, posted = run([100, 1500, 2000, 1300, 700, 600, 599, 100, 1300])
    assert posted == ["start", "end", "start"]


def test_one_message_per_episode_and_nothing_when_it_cannot_be_decided() -> None:
    state, posted = run([None, 5000, None, 5000, 4000, None])
    assert posted == ["start"]
    assert state.episode_started_at is not None
    _, posted = run([None, None, None])
    assert posted == []


def test_a_spike_while_snoozed_is_not_posted_until_the_snooze_is_over() -> None:
    snoozed = SpikeState(snoozed_until=NOW + timedelta(minutes=12))
    state, posted = run([5000, 5000, 5000], state=snoozed)
    assert posted == []
    assert state.episode_started_at == NOW and state.episode_ts is None
    # Still going once the snooze is over: told then; calm after a silent one: nothing.
    _, posted = run([5000, 5000, 5000, 5000], state=snoozed)
    assert posted == ["start"]
    _, posted = run([5000, 100, 5000], state=snoozed)
    assert posted == []


def test_without_any_usual_spend_a_spike_is_one_percent_of_the_quota_and_ends_under_half() -> None:
    assert is_spiking(spent(1000, usual=0), FOUR)
    assert not is_calm(spent(500, usual=0), FOUR)
    assert is_calm(spent(499, usual=0), FOUR)


def test_usual_from_the_aggregate_is_the_seven_days_before_today_per_window() -> None:
    today = NOW.date()
    usage = ApiUsage(
        items=(
            ApiDayAmount(day=today - timedelta(days=8), api_id="a", amount=Decimal(99999)),
            *(
                ApiDayAmount(day=today - timedelta(days=days), api_id="a", amount=Decimal(1200))
                for days in range(1, 8)
            ),
            ApiDayAmount(day=today - timedelta(days=3), api_id="b", amount=Decimal(840)),
            ApiDayAmount(day=today, api_id="a", amount=Decimal(99999)),  # today is not usual
        )
    )
    # (7 x 1,200 + 840) over 168 hours = 55 an hour.
    assert usual_from_aggregate(usage, today=today, window=HOUR) == Decimal(55)
    assert usual_from_aggregate(usage, today=today, window=timedelta(minutes=30)) == Decimal("27.5")
    assert usual_from_aggregate(ApiUsage(), today=today, window=HOUR) is None


def test_usual_from_the_bots_own_history_needs_a_day_of_it() -> None:
    start = (NOW - timedelta(days=7), Decimal(1000))
    end = (NOW - timedelta(days=1), Decimal(8200))
    assert usual_from_history(start, end, window=HOUR) == Decimal(50)  # 7,200 over 144 h
    short = (NOW - timedelta(hours=23), Decimal(1000))
    assert usual_from_history(short, end, window=HOUR) is None
    assert usual_from_history(None, end, window=HOUR) is None
    reset = (NOW - timedelta(days=1), Decimal(10))
    assert usual_from_history(start, reset, window=HOUR) is None


def test_the_window_spend_by_api_and_by_key() -> None:
    def record(api: str, key: str | None, amount: str) -> UsageRecord:
        name = {"k1": "backend", "k2": "ci"}.get(key or "")
        return UsageRecord(
            api_id=api, credential_id=key, credential_name=name, amount=Decimal(amount)
        )

    records = [
        record("imagine", "k1", "10"),
        record("imagine", "k1", "10"),
        record("upscale", "k2", "5"),
        record("describe", None, "1"),
        record("blend", "k3", "0.5"),
        record("other", "k3", "0.25"),
    ]
    found = breakdown(records, 40, ApiUsage(titles={"imagine": "Imagine"}))
    assert [(s.name, s.amount) for s in found.apis] == [
        ("Imagine", 20),
        ("upscale", 5),
        ("describe", 1),
    ]
    assert [(s.id, s.name) for s in found.keys] == [
        ("k1", "backend"),
        ("k2", "ci"),
        ("k3", "key k3"),
    ]
    assert (found.total, found.seen, found.count) == (Decimal("26.75"), 6, 40)


# ---------------------------------------------------------------------------------------------
# measure(): the window from the bot's readings, the usual from the aggregate or the history


def snapshot(used: float, remaining: float = 50_000, at: datetime = NOW) -> QuotaSnapshot:
    app = Application(
        id=APP_ID, remaining_amount=Decimal(str(remaining)), used_amount=Decimal(str(used))
    )
    return QuotaSnapshot(app, None, at)


def seed(db: Engine, readings: list[tuple[datetime, float]]) -> None:
    with Session(db) as session:
        for at, used in readings:
            session.add(
                Observation(
                    team_id=TEAM_ID,
                    application_id=APP_ID,
                    remaining=str(100_000 - used),
                    used=str(used),
                    allow_consume_global=False,
                    observed_at=at,
                )
            )
        session.commit()


def aggregate(router: respx.MockRouter, daily: float) -> respx.Route:
    today = NOW.date()
    items = [
        {"date": str(today - timedelta(days=days)), "api_id": "imagine", "amount": daily}
        for days in range(1, 8)
    ]
    return router.get("/usage/apis/aggregate/").respond(
        json={"items": items, "apis": {"imagine": {"title": "Imagine"}}}
    )


async def measured(runtime: Runtime, used: float) -> tuple[Measure | None, ApiUsage | None]:
    spike_round = SpikeRound(Round(runtime.acedata, runtime.db))
    return await measure(
        runtime.db,
        spike_round,
        snapshot(used),
        team_id=TEAM_ID,
        token=PLATFORM_TOKEN,
        window=HOUR,
    )


WEEK_OF_HISTORY = [
    (datetime(2026, 11, 27, 0, 0, tzinfo=UTC), 1000.0),
    (datetime(2026, 12, 4, 0, 0, tzinfo=UTC), 9400.0),  # 8,400 over 7 days: 50 an hour
    (NOW - timedelta(minutes=70), 9900.0),
    (NOW - timedelta(minutes=50), 10_000.0),
]


async def test_usual_comes_from_the_aggregate_where_it_answers(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    seed(db, WEEK_OF_HISTORY)
    route = aggregate(acedata, 2400)  # 100 an hour

    found, usage = await measured(runtime, 12_000)

    assert found == Measure(Decimal(2100), Decimal(100), Decimal(62_000), "aggregate")
    assert usage is not None and usage.title("imagine") == "Imagine"
    sent = route.calls.last.request.url.params
    assert (sent["created_at_from"][:10], sent["created_at_to"][:10]) == (
        "2026-11-27",
        "2026-12-04",
    )


async def test_usual_comes_from_the_bots_history_when_the_aggregate_is_refused_or_empty(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    seed(db, WEEK_OF_HISTORY)
    acedata.get("/usage/apis/aggregate/").respond(404, json={"detail": "Not found."})
    found, usage = await measured(runtime, 12_000)
    assert found == Measure(Decimal(2100), Decimal(50), Decimal(62_000), "history")
    assert usage is None

    acedata.get("/usage/apis/aggregate/").respond(json={"items": []})
    found, _ = await measured(runtime, 12_000)
    assert found is not None and found.source == "history"


async def test_nothing_is_decided_without_a_reading_a_window_old_or_any_usual(
    runtime: Runtime, acedata: respx.MockRouter, db: Engine
) -> None:
    aggregate(acedata, 2400)
    seed(db, [(NOW - timedelta(minutes=30), 9900.0)])
    assert (await measured(runtime, 12_000))[0] is None  # no reading an hour old

    acedata.get("/usage/apis/aggregate/").respond(json={"items": []})
    seed(db, [(NOW - timedelta(minutes=90), 9000.0)])
    assert (await measured(runtime, 12_000))[0] is None  # no usual: no history, no aggregate
