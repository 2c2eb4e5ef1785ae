"""The Slack app manifest is valid, and matches what the code serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_CANDIDATES = [
    ROOT.parent / "shared" / "reference" / "slack" / "manifest.schema.1.0.0.json",
    ROOT / "tests" / "data" / "manifest.schema.1.0.0.json",
]


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_validates_against_slacks_schema(manifest: dict[str, Any]) -> None:
    schema_path = next(path for path in SCHEMA_CANDIDATES if path.exists())
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(manifest, schema)


def test_manifest_declares_the_command_and_urls_the_app_serves(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/quota"
    assert command["should_escape"] is True
    urls = {command["url"], manifest["settings"]["interactivity"]["request_url"]}
    assert len({url.split("/")[2] for url in urls}) == 1
    assert all(url.endswith("/slack/events") for url in urls)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "users:read",
    }


def test_manifest_is_rejected_when_broken(manifest: dict[str, Any]) -> None:
    schema_path = next(path for path in SCHEMA_CANDIDATES if path.exists())
    schema = json.loads(schema_path.read_text())
    broken = {**manifest, "display_information": {"name": "x" * 36}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
