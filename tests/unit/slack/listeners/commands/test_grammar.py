"""The grammar never crashes on any text, and accepts exactly the aliases the design allows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.aliases import RESERVED_WORDS
from bot.slack.listeners.commands.grammar import (
    MAX_TEXT_LENGTH,
    ChangeAdmin,
    LinkAlias,
    ListKeys,
    SetSpike,
    ShowAlias,
    ShowUsage,
    SpikeOff,
    UsageError,
    parse,
)
from tests.support.client import APP_ID

valid_alias = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,31}", fullmatch=True).filter(
    lambda alias: alias.lower() not in RESERVED_WORDS
)


@given(st.text(max_size=MAX_TEXT_LENGTH + 50))
def test_any_text_parses_or_gives_a_usage_error(text: str) -> None:
    try:
        parse(text)
    except UsageError as exc:
        assert exc.problem
        assert "<" not in exc.problem and ">" not in exc.problem


@given(valid_alias)
def test_every_valid_alias_is_accepted_lower_cased(alias: str) -> None:
    assert parse(alias) == ShowAlias(alias.lower())
    assert parse(f"link {alias} {APP_ID.upper()} --WORKSPACE") == LinkAlias(
        alias.lower(), APP_ID, workspace=True
    )


@given(st.from_regex(r"[-._][a-z0-9._-]{0,31}", fullmatch=True))
def test_aliases_starting_with_punctuation_are_refused(alias: str) -> None:
    try:
        parse(alias)
    except UsageError as exc:
        assert "starts with a-z or 0-9" in exc.problem
    else:
        raise AssertionError(f"{alias!r} was accepted")


def test_mentions_with_and_without_names_are_read() -> None:
    assert parse("admins add <@U012AB3CD|alice>") == ChangeAdmin("U012AB3CD", add=True)
    assert parse("admins remove <@W012AB3CD>") == ChangeAdmin("W012AB3CD", add=False)


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ("usage prod", ShowUsage("prod", "7d")),
        ("USAGE Prod TODAY", ShowUsage("prod", "today")),
        ("usage prod 30d", ShowUsage("prod", "30d")),
        ("keys prod", ListKeys("prod")),
        ("alert prod spike", SetSpike("prod", Decimal(4))),
        ("alert prod spike 2.5", SetSpike("prod", Decimal("2.5"))),
        ("alert prod spike 3x", SetSpike("prod", Decimal(3))),
        ("alert prod spike 100", SetSpike("prod", Decimal(100))),
        ("alert prod spike off", SpikeOff("prod")),
    ],
)
def test_why_commands_are_read(text: str, request_: object) -> None:
    assert parse(text) == request_


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("usage", "Missing the alias for `usage`"),
        ("usage prod 9y", "`9y` is not a period"),
        ("usage prod 7d extra", "Unexpected extra text: `extra`"),
        ("keys", "Missing the alias for `keys`"),
        ("keys prod staging", "Too many arguments for `keys`"),
        ("alert prod spike 0", "`0` is not a spike factor"),
        ("alert prod spike 1", "`1` is not a spike factor"),
        ("alert prod spike 1e9", "`1e9` is not a spike factor"),
        ("alert prod spike abc", "`abc` is not a spike factor"),
        ("alert prod spike NaN", "`NaN` is not a spike factor"),
        ("alert prod spike 4 now", "Unexpected extra text: `now`"),
    ],
)
def test_why_commands_refuse_garbage_saying_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse(text)
    assert problem in refused.value.problem
    assert refused.value.usage


@pytest.mark.parametrize("word", ["usage", "keys"])
def test_the_new_sub_commands_cannot_be_aliases(word: str) -> None:
    with pytest.raises(UsageError, match="is a /quota sub-command"):
        parse(f"link {word} {APP_ID}")
