"""Help names every command, and the command reference (docs/commands.md) does too."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.slack.blocks import help_blocks
from bot.slack.blocks.usage import _FORMS

COMMANDS_DOC = Path(__file__).parents[4] / "docs" / "commands.md"
# Forms help and the command reference describe in words next to their parent form.
DESCRIBED_BESIDE = {"alert off", "digest off", "digest now"}


def _help_text() -> str:
    return "\n".join(
        block["text"]["text"] for block in help_blocks() if block.get("type") == "section"
    )


@pytest.mark.parametrize("form", sorted(set(_FORMS) - DESCRIBED_BESIDE))
def test_help_shows_every_command_form(form: str) -> None:
    shown = _FORMS[form].replace("<", "&lt;").replace(">", "&gt;")
    assert shown in _help_text()


@pytest.mark.parametrize("form", ["usage", "keys", "alert spike"])
def test_the_command_reference_lists_the_why_commands(form: str) -> None:
    assert _FORMS[form].replace("|", "\\|") in COMMANDS_DOC.read_text()
