"""Sending Events API callbacks as Slack does: signed, with an event id and the authorization
of the workspace they come from."""

from __future__ import annotations

import itertools
import json
from typing import Any

from .client import BotClient

_events = itertools.count(1)


async def send_event(bot: BotClient, event: dict[str, Any], *, team: str | None = None) -> int:
    """Post `event` (the inner event: type, its fields) as an event_callback from `team` (the
    client's workspace by default); the HTTP status of the ack."""
    team = team or bot.team
    number = next(_events)
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"EvS{number:08d}",
            "event_time": 1700000000 + number,
            "event": {"event_ts": f"1700000000.{number:06d}", **event},
            "authorizations": [
                {"team_id": team, "user_id": "UBOT", "is_bot": True, "enterprise_id": None}
            ],
        }
    )
    status, text = await bot.post(body, bot.signed_headers(body), "application/json")
    assert text == "" or status != 200, text
    return status
