"""LOG_FORMAT=json: every line a real `quota-bot serve` writes is one JSON object, a request's
lines carry its workspace, channel and request id, and no line holds a secret."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.support.client import CHANNEL, FORM, MEMBER, BotClient, cli_environment
from tests.support.server import BOT_TOKEN, SIGNING_SECRET
from tests.support.slack_server import TEAM_ID, SlackServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_until_healthy(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(150):
            try:
                if (await http.get(f"{base_url}/healthz", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the bot never answered /healthz")


async def test_json_logs_are_one_object_per_line_with_the_request_fields(
    tmp_path: Path, slack: SlackServer
) -> None:
    port = free_port()
    env = cli_environment(
        {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "PORT": str(port),
            "LOG_FORMAT": "json",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "serve"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    client = BotClient(base_url, SIGNING_SECRET, slack, None)  # type: ignore[arg-type]
    try:
        await wait_until_healthy(base_url)
        # A command, then the very same signed request again: a replay the bot logs.
        body = urlencode(client.command_fields("help", user=MEMBER))
        headers = client.signed_headers(body)
        assert (await client.post(body, headers, FORM))[0] == 200
        assert (await client.post(body, headers, FORM))[0] == 200
        await asyncio.sleep(0.5)
    finally:
        await client.close()
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    text = output.decode()
    lines = [json.loads(line) for line in text.splitlines()]  # every line, or this fails

    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
    [replay] = [line for line in lines if "replayed Slack request" in line["message"]]
    assert replay["level"] == "WARNING"
    assert replay["team"] == TEAM_ID and replay["channel"] == CHANNEL
    assert len(replay["request_id"]) == 16
    assert any(line["message"].startswith("Serving Slack requests") for line in lines)
    for secret in (BOT_TOKEN, SIGNING_SECRET):
        assert secret not in text
    assert "trigger." not in text and "response" not in text  # nothing of a request body


def test_an_unknown_log_format_is_one_config_line(tmp_path: Path) -> None:
    settings = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=cli_environment(settings | {"LOG_FORMAT": "xml", "PORT": str(free_port())}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if "See .env.example" not in line]
    assert len(problems) == 1
    assert problems[0].startswith("quota-bot: LOG_FORMAT is invalid: Input should be 'text' or")
