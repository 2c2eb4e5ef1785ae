"""Button values are read back as the bot wrote them, or not at all."""

from __future__ import annotations

import json

import pytest

from bot.slack import ids
from tests.support.client import APP_ID


def test_a_key_target_round_trips_normalized() -> None:
    target = ids.KeyTarget(alias="Prod", application_id=APP_ID.upper(), key_id="k-1_A")
    assert ids.decode_key(ids.encode(target)) == ids.KeyTarget(
        alias="prod", application_id=APP_ID, key_id="k-1_A"
    )


@pytest.mark.parametrize(
    "value",
    [
        {"alias": "prod", "application_id": APP_ID, "key_id": "k/../other"},
        {"alias": "prod", "application_id": APP_ID, "key_id": ""},
        {"alias": "prod", "application_id": APP_ID, "key_id": "k" * 65},
        {"alias": "prod", "application_id": "not-an-id", "key_id": "k"},
        {"alias": "-prod", "application_id": APP_ID, "key_id": "k"},
        {"alias": "prod", "application_id": APP_ID, "key_id": "k", "extra": 1},
    ],
)
def test_a_key_value_the_bot_could_not_have_written_is_refused(value: dict[str, object]) -> None:
    with pytest.raises(ids.InvalidButtonValue):
        ids.decode_key(json.dumps(value))


@pytest.mark.parametrize("snooze", ["2h", "", "recovered "])
def test_a_snooze_choice_must_be_one_offered(snooze: str) -> None:
    with pytest.raises(ids.InvalidButtonValue):
        ids.decode_snooze(json.dumps({"alias": "prod", "snooze": snooze}))


def test_a_usage_period_must_be_one_offered() -> None:
    with pytest.raises(ids.InvalidButtonValue):
        ids.decode_usage(json.dumps({"alias": "prod", "period": "9y"}))
    assert ids.decode_usage(json.dumps({"alias": "PROD", "period": "30d"})).alias == "prod"
