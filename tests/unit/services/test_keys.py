"""The pure parts of API keys: what a cap may be, a key's state, its spend over the last day; and
key readings thinned like quota history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from bot.acedata import ApiKey
from bot.runtime import Runtime
from bot.services.history import prune
from bot.services.keys import (
    DaySpend,
    InvalidCap,
    Reading,
    cap_text,
    day_spend,
    key_state,
    parse_cap,
)
from tests.support.client import APP_ID
from tests.support.slack_server import TEAM_ID

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "cap"),
    [
        ("", None),
        ("   ", None),
        ("0", Decimal(0)),
        ("-0", Decimal(0)),
        ("500", Decimal(500)),
        (" 1250.75 ", Decimal("1250.75")),
        ("1e3", Decimal(1000)),
        ("0.000001", Decimal("0.000001")),
        ("999999999999999.99", Decimal("999999999999999.99")),
    ],
)
def test_a_cap_is_empty_or_a_finite_amount(typed: str, cap: Decimal | None) -> None:
    assert parse_cap(typed) == cap


@pytest.mark.parametrize(
    "typed",
    [
        "-5",
        "-0.01",
        "1e400",
        "1e15",
        "1000000000000000",
        "1e999999999",
        "abc",
        "NaN",
        "sNaN",
        "Infinity",
        "-inf",
        "1,000",
        "0.0000001",
        "0x10",
        "١٢",
        "5" * 41,
        "5 5",
    ],
)
def test_anything_else_is_not_a_cap(typed: str) -> None:
    with pytest.raises(InvalidCap) as refused:
        parse_cap(typed)
    assert refused.value.reason.endswith(".")


def test_a_cap_is_sent_as_plain_digits() -> None:
    assert cap_text(parse_cap("1e3")) == "1000"
    assert cap_text(parse_cap("2.50")) == "2.5"
    assert cap_text(None) == "none"


def key(**fields: object) -> ApiKey:
    return ApiKey.model_validate({"id": "k1", "name": "ci", **fields})


def test_a_key_is_paused_when_its_expiry_has_passed_else_capped_out_when_spent() -> None:
    assert key_state(key(used_amount=5), NOW) == "active"
    assert key_state(key(used_amount=5, limited_amount=10), NOW) == "active"
    assert key_state(key(used_amount=10, limited_amount="10.00"), NOW) == "capped"
    assert key_state(key(used_amount=0, limited_amount=0), NOW) == "capped"
    assert key_state(key(expired_at=(NOW + timedelta(days=1)).isoformat()), NOW) == "active"
    assert key_state(key(expired_at=NOW.isoformat()), NOW) == "paused"
    paused_and_spent = key(expired_at="2020-01-01T00:00:00Z", used_amount=9, limited_amount=1)
    assert key_state(paused_and_spent, NOW) == "paused"


def reading(hours_ago: float, used: str) -> Reading:
    return Reading(at=NOW - timedelta(hours=hours_ago), used=Decimal(used))


@pytest.mark.parametrize(
    ("baseline", "first", "spend"),
    [
        (None, None, DaySpend(None)),
        (reading(24, "100"), None, DaySpend(Decimal("20.5"))),
        (reading(24.9, "100"), reading(3, "110"), DaySpend(Decimal("20.5"))),
        # Much older than a day: the spend since then, said as such.
        (
            reading(72, "90"),
            reading(3, "110"),
            DaySpend(Decimal("30.5"), since=NOW - timedelta(hours=72)),
        ),
        # No reading a day old: since the oldest there is.
        (None, reading(5, "118"), DaySpend(Decimal("2.5"), since=NOW - timedelta(hours=5))),
        # A spend that went down (reset): no honest figure.
        (reading(24, "200"), None, DaySpend(None)),
        (None, reading(0, "120.5"), DaySpend(None)),
    ],
    ids=["none", "a day ago", "a day ago within the hour", "days ago", "hours ago", "reset", "now"],
)
def test_spend_over_the_last_day(
    baseline: Reading | None, first: Reading | None, spend: DaySpend
) -> None:
    assert day_spend(Decimal("120.5"), baseline, first, NOW) == spend


def store(db: Engine, key_id: str, ages: list[timedelta]) -> None:
    now = datetime.now(UTC)
    with db.begin() as connection:
        for age in ages:
            connection.execute(
                text(
                    "INSERT INTO key_readings (team_id, application_id, key_id, key_name, used, "
                    "observed_at) VALUES (:team, :app, :key, 'ci', '1', :at)"
                ),
                {"team": TEAM_ID, "app": APP_ID, "key": key_id, "at": now - age},
            )


async def test_key_readings_are_thinned_like_quota_history(runtime: Runtime, db: Engine) -> None:
    now = datetime.now(UTC)
    hour = (now - timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
    thinned = [now - (hour + timedelta(minutes=minute)) for minute in (1, 10, 20, 30)]
    recent = [timedelta(days=1, minutes=5 * step) for step in range(3)]
    for key_id in ("k1", "k2"):  # one reading an hour per key, not per application
        store(db, key_id, recent + thinned + [timedelta(days=91)])

    gone = await prune(runtime.db)

    assert gone == 2 * 4
    with db.connect() as connection:
        kept = connection.execute(
            text("SELECT key_id, count(*) FROM key_readings GROUP BY key_id ORDER BY key_id")
        ).all()
    assert [tuple(row) for row in kept] == [("k1", 4), ("k2", 4)]
