"""Running a Workflow Builder step as Slack does: a `function_executed` event carrying the
step's inputs, its execution id and the function's own token (bolt-python's own tests use
the same shape)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from .client import BotClient
from .events import send_event

FUNCTION_TOKEN_PREFIX = "xwfp-function-token-"
_executions = itertools.count(1)


async def run_step(
    bot: BotClient, callback_id: str, inputs: dict[str, Any], *, team: str | None = None
) -> str:
    """Send `function_executed` for step `callback_id`; its execution id (the function's token
    is FUNCTION_TOKEN_PREFIX + that id)."""
    execution = f"Fx{next(_executions):08d}"
    event = {
        "type": "function_executed",
        "function": {
            "id": f"Fn{callback_id[:10].upper()}",
            "callback_id": callback_id,
            "title": callback_id,
            "description": "",
            "type": "app",
            "input_parameters": [],
            "output_parameters": [],
            "app_id": "A0001",
            "date_created": 1700000000,
            "date_updated": 1700000000,
            "date_deleted": 0,
        },
        "inputs": inputs,
        "function_execution_id": execution,
        "workflow_execution_id": f"Wx{execution}",
        "bot_access_token": FUNCTION_TOKEN_PREFIX + execution,
    }
    assert await send_event(bot, event, team=team) == 200
    return execution


async def completion(bot: BotClient, execution: str) -> tuple[str, dict[str, Any]]:
    """How the step ended: ("success", outputs) or ("error", {"error": sentence}); waits for it."""
    await bot.settle()
    for call in bot.slack.calls:
        if call.data.get("function_execution_id") != execution:
            continue
        if call.method == "functions.completeSuccess":
            return "success", _json(call.data.get("outputs"))
        if call.method == "functions.completeError":
            return "error", {"error": call.data["error"]}
    raise AssertionError(f"step {execution} was not completed")


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})
