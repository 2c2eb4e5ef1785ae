"""Slash-command bodies signed the way Slack signs them, built before any timed part."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Signed:
    """One request ready to send: its response_url key, body and headers."""

    key: str
    body: bytes
    headers: dict[str, str]


class CommandSigner:
    """Builds `/quota <text>` requests from one workspace, channel and user, each with its own
    response_url key (so its card can be told apart) and hence its own signature (the bot
    refuses a signature it has seen)."""

    def __init__(
        self, *, secret: str, team: str, channel: str, user: str, response_base: str
    ) -> None:
        self._verifier = SignatureVerifier(secret)
        self._team = team
        self._channel = channel
        self._user = user
        self._response_base = response_base.rstrip("/")

    def sign(self, key: str, text: str, *, timestamp: int | None = None) -> Signed:
        fields = {
            "token": "legacy",
            "team_id": self._team,
            "team_domain": "bench",
            "channel_id": self._channel,
            "channel_name": "bench",
            "user_id": self._user,
            "user_name": self._user.lower(),
            "command": "/quota",
            "text": text,
            "api_app_id": "ABENCH001",
            "is_enterprise_install": "false",
            "response_url": f"{self._response_base}/response/{key}",
            "trigger_id": f"trigger.{key}",
        }
        body = urlencode(fields)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return Signed(
            key,
            body.encode(),
            {
                "content-type": FORM,
                "x-slack-request-timestamp": stamp,
                "x-slack-signature": self._verifier.generate_signature(timestamp=stamp, body=body),
            },
        )
