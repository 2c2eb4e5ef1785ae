"""PUBLIC_URL: optional; when set, the bot's own address (http or https), nothing more."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_public_url_is_unset_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    assert load_settings(_env_file=None).public_url is None
    monkeypatch.setenv("PUBLIC_URL", "https://quota-bot.example.com")
    assert str(load_settings(_env_file=None).public_url) == "https://quota-bot.example.com/"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("quota-bot.example.com", "PUBLIC_URL is invalid: "),
        ("ftp://quota-bot.example.com", "PUBLIC_URL is invalid: URL scheme should be 'http' or"),
        (
            "https://quota-bot.example.com/?next=/slack",
            "PUBLIC_URL is invalid: must be the bot's address alone, such as "
            "https://quota-bot.example.com",
        ),
    ],
    ids=["no scheme", "not http", "with a query"],
)
def test_a_public_url_that_is_not_an_address_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv("PUBLIC_URL", value)
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None)
    (problem,) = raised.value.problems
    assert problem.startswith(said)
