"""SPIKE_WINDOW_SECONDS: a window of 5 minutes to a day, an hour unless set."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_the_spike_window_is_an_hour_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPIKE_WINDOW_SECONDS", raising=False)
    assert load_settings(_env_file=None).spike_window_seconds == 3600
    monkeypatch.setenv("SPIKE_WINDOW_SECONDS", "1800")
    assert load_settings(_env_file=None).spike_window_seconds == 1800


@pytest.mark.parametrize("value", ["60", "86401", "1h", "-3600"])
def test_a_spike_window_out_of_bounds_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SPIKE_WINDOW_SECONDS", value)
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None)
    (problem,) = raised.value.problems
    assert problem.startswith("SPIKE_WINDOW_SECONDS is invalid: ")
    assert value not in problem
