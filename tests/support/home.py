"""Opening the App Home as Slack does, and reading the view the bot publishes."""

from __future__ import annotations

import itertools
import json
from typing import Any

from .client import BotClient
from .slack_server import TEAM_ID

_events = itertools.count(1)


async def open_home(bot: BotClient, user: str, *, tab: str = "home") -> int:
    """Send Slack's app_home_opened event for `user`; the HTTP status of the ack."""
    number = next(_events)
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM_ID,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{number:08d}",
            "event_time": 1700000000 + number,
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0001",
                "tab": tab,
                "event_ts": f"1700000000.{number:06d}",
            },
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True, "enterprise_id": None}
            ],
        }
    )
    status, text = await bot.post(body, bot.signed_headers(body), "application/json")
    assert text == "" or status != 200, text
    return status


async def published(bot: BotClient, count: int = 1) -> tuple[str, dict[str, Any], str]:
    """The `count`-th view the bot published: whose Home it is, the view, and its text."""
    call = await bot.slack.wait_for_call("views.publish", count=count)
    view = call.data["view"]
    view = json.loads(view) if isinstance(view, str) else view
    return call.data["user_id"], view, json.dumps(view, ensure_ascii=False)
