"""What an HTTP request must prove before Bolt parses it: a bounded size and Slack's signature.

Anyone on the internet can reach the request URL, so nothing here reads a body past its size
limit, parses it before the signature holds, or logs more than one bounded line about it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier
from starlette.requests import ClientDisconnect, Request

logger = logging.getLogger(__name__)

# Slack's requests are small; a card's button press carries the card, a few KB.
MAX_BODY_BYTES = 1024 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# The team, if it can be seen without parsing: a form field, or a payload's team object.
_TEAM = re.compile(
    rb"team(?:_id=|%22%3A%7B%22id%22%3A%22|\"\s*:\s*\{\s*\"id\"\s*:\s*\")([A-Z0-9]{2,20})"
)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_signed_body(request: Request, verifier: SignatureVerifier) -> str:
    """The body as text once it is known to be Slack's; Refused (logged once) otherwise."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        _log_refusal("body too large", int(declared), b"")
        raise Refused(413, "Request body too large.")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                _log_refusal("body too large", len(body), b"")
                raise Refused(413, "Request body too large.")
    except ClientDisconnect:
        _log_refusal("client left before sending the whole body", len(body), bytes(body))
        raise Refused(400, "Incomplete request.") from None
    try:
        return _verify(request, verifier, bytes(body))
    except Refused as exc:
        _log_refusal(exc.reason, len(body), bytes(body))
        raise


def _verify(request: Request, verifier: SignatureVerifier, body: bytes) -> str:
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "missing or malformed timestamp")
    if not _SIGNATURE.fullmatch(signature):
        raise Refused(401, "missing or malformed signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
        raise Refused(401, "bad signature or stale timestamp")
    return text


def _log_refusal(reason: str, size: int, body: bytes) -> None:
    team = _TEAM.search(body[:8192])
    logger.warning(
        "Refused a request to /slack/events: %s (size=%d bytes, team=%s)",
        reason,
        size,
        team.group(1).decode() if team else "unknown",
    )


def parse(text: str, content_type: str) -> dict[str, Any]:
    """A verified body as Slack meant it: JSON (events), or a form whose `payload` field holds
    JSON (interactivity), or a plain form (slash commands). Refused (400) if it is none of these.

    Done here rather than by Bolt, whose parser takes any form that merely contains the word
    "payload" — in a command's text, say — for an interaction.
    """
    try:
        if content_type.split(";")[0].strip().lower() == "application/json":
            body = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body:
        logger.warning("Refused a signed Slack request whose body could not be read")
        raise Refused(400, "Malformed request.")
    return body
