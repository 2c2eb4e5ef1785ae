"""The Slack app manifest is valid, and matches what the code serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack.install.oauth import BOT_SCOPES, REDIRECT_PATH
from tests.support.client import BotClient
from tests.support.slack_server import TEAM_ID

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_CANDIDATES = [
    ROOT.parent / "shared" / "reference" / "slack" / "manifest.schema.1.0.0.json",
    ROOT / "tests" / "data" / "manifest.schema.1.0.0.json",
]


MANIFESTS = ["manifest.yml", "manifest.socket.yml"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load("manifest.yml")


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifests_validate_against_slacks_schema(name: str) -> None:
    schema_path = next(path for path in SCHEMA_CANDIDATES if path.exists())
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(load(name), schema)


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifests_ask_for_the_scopes_the_code_uses_and_the_home_tab(name: str) -> None:
    declared = load(name)
    assert declared["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert declared["features"]["app_home"]["home_tab_enabled"] is True


def test_the_socket_mode_manifest_is_the_deployment_one_without_urls(
    manifest: dict[str, Any],
) -> None:
    socket = load("manifest.socket.yml")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "http" not in json.dumps(socket)
    assert (
        socket["settings"]["event_subscriptions"]["bot_events"]
        == (manifest["settings"]["event_subscriptions"]["bot_events"])
    )
    assert socket["features"]["slash_commands"][0]["command"] == "/quota"


def test_manifest_declares_the_command_and_urls_the_app_serves(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/quota"
    assert command["should_escape"] is True
    settings = manifest["settings"]
    urls = {
        command["url"],
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    }
    assert all(url.endswith("/slack/events") for url in urls)
    (redirect,) = manifest["oauth_config"]["redirect_urls"]
    assert redirect.endswith(REDIRECT_PATH)
    assert len({url.split("/")[2] for url in {*urls, redirect}}) == 1


async def test_every_subscribed_event_has_a_listener(
    bot: BotClient, manifest: dict[str, Any]
) -> None:
    """Slack redelivers an event the app answers with 404 (no listener), again and again."""

    async def send(kind: str) -> int:
        body = json.dumps(
            {
                "team_id": TEAM_ID,
                "api_app_id": "A0001",
                "type": "event_callback",
                "event_id": f"Ev{kind}",
                "event_time": 1700000000,
                "event": {"type": kind, "user": "UMEMBER", "tab": "messages", "tokens": {}},
            }
        )
        status, _ = await bot.post(body, bot.signed_headers(body), "application/json")
        return status

    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert [await send(kind) for kind in subscribed] == [200] * len(subscribed)
    assert await send("reaction_added") == 404  # what an unsubscribed one gets
    await bot.settle()


def test_manifest_is_rejected_when_broken(manifest: dict[str, Any]) -> None:
    schema_path = next(path for path in SCHEMA_CANDIDATES if path.exists())
    schema = json.loads(schema_path.read_text())
    broken = {**manifest, "display_information": {"name": "x" * 36}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
