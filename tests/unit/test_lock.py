"""The lock files pin every dependency pyproject.toml declares, at a version it allows, with
hashes: what the container, CI and platforms install is what the project says it needs."""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _pins(lock: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(lock)}


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements.txt", ()), ("requirements-dev.txt", ("dev",))],
)
def test_the_lock_pins_every_dependency_within_its_bounds(
    lock: str, extras: tuple[str, ...]
) -> None:
    text = (ROOT / lock).read_text()
    pins = _pins(text)
    declared = list(PROJECT["dependencies"])
    for extra in extras:
        declared += PROJECT["optional-dependencies"][extra]
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement.specifier}"
        )
    starts = [match.start() for match in PIN.finditer(text)] + [len(text)]
    for start, end in itertools.pairwise(starts):
        assert "--hash=sha256:" in text[start:end], text[start : start + 60]


def test_the_python_version_file_is_one_the_project_supports() -> None:
    version = (ROOT / ".python-version").read_text().strip()
    minimum = PROJECT["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))
