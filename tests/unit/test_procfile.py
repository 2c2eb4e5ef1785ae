"""The Procfile deploy builds on a platform that reads Procfiles: such a platform installs
`requirements.txt` (it does not install the project itself), so every process runs the bot
as a module from the checkout, and each is a command the CLI knows."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bot.__main__ import main

ROOT = Path(__file__).parents[2]
PROCESSES = dict(
    line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
)


def test_the_processes_are_release_web_and_worker() -> None:
    assert sorted(PROCESSES) == ["release", "web", "worker"]


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_each_process_runs_the_module_with_a_known_command(
    process: str, capsys: pytest.CaptureFixture[str]
) -> None:
    words = shlex.split(PROCESSES[process])
    assert words[:3] == ["python", "-m", "bot"]
    with pytest.raises(SystemExit) as shown:
        main([*words[3:], "--help"])
    assert shown.value.code == 0
    assert "usage: quota-bot" in capsys.readouterr().out
