"""What an HTTP request must prove before Bolt parses it: a bounded size and Slack's signature.

Anyone on the internet can reach the request URL, so nothing here reads a body past its size
limit, parses it before the signature holds, or logs more than one bounded line about it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from ... import metrics
from ...runtime import Runtime
from . import envelope
from .middleware import ENVELOPE, RECEIVED_AT, begin_request, busy_answer, count_answer

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


async def serve_events(
    request: Request, verifier: SignatureVerifier, runtime: Runtime, bolt: AsyncApp
) -> Response:
    """`/slack/events`: verified, read and admitted here, then dispatched to Bolt."""
    received_at = asyncio.get_running_loop().time()
    try:
        body = await read_signed_body(request, verifier)
        parsed = parse(body, request.headers.get("content-type", ""))
        shape = envelope.read(parsed)
    except Refused as exc:
        metrics.REQUESTS.labels("unknown", "refused" if exc.status != 400 else "malformed").inc()
        return PlainTextResponse(exc.reason, status_code=exc.status)
    except ValueError as exc:
        logger.warning("Refused a malformed Slack request: %s", exc)
        metrics.REQUESTS.labels("unknown", "malformed").inc()
        return PlainTextResponse("Malformed request.", status_code=400)
    context = begin_request(shape, parsed, received_at)
    # Refused before Bolt when busy: the refusal must cost next to nothing.
    busy = busy_answer(runtime, shape, parsed)
    if busy is not None:
        context.refused_as = "busy"
        count_answer(context, busy.status)
        return to_starlette_response(busy)
    # Bolt gets the body as JSON, which it parses without guessing.
    headers = {**request.headers, "content-type": "application/json"}
    bolt_request = AsyncBoltRequest(
        body=json.dumps(parsed),
        query=request.query_params,  # type: ignore[arg-type]
        headers=headers,  # type: ignore[arg-type]
    )
    bolt_request.context[ENVELOPE] = shape
    bolt_request.context[RECEIVED_AT] = received_at
    try:
        answer = await bolt.async_dispatch(bolt_request)
    except Exception as exc:  # Bolt's own routing met a body of a shape it cannot read
        logger.warning(
            "Refused a Slack request Bolt could not route (type=%s): %s",
            str(parsed.get("type"))[:40],
            type(exc).__name__,
        )
        count_answer(context, 400)
        return PlainTextResponse("Malformed request.", status_code=400)
    count_answer(context, answer.status)
    return to_starlette_response(answer)
