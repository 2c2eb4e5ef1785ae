"""The grammar never crashes on any text, and accepts exactly the aliases the design allows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.services.aliases import RESERVED_WORDS
from bot.slack.listeners.commands.grammar import (
    MAX_TEXT_LENGTH,
    ChangeAdmin,
    LinkAlias,
    ShowAlias,
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
