"""The Slack side of two-person approval and timed fallback: posting a request, showing its
decision in place, completing the workflow step that waits on it, and the notes a timer
leaves in the thread."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ...acedata import Application
from ...runtime import Runtime
from ...services import approvals
from ...services.approvals import PendingRequest
from ...services.fallback import FallbackResult
from ...services.fallback_timers import Timer
from ...services.timed_fallback import SaySwitchedBack
from ..api_errors import slack_error
from ..blocks import approval as approval_blocks

logger = logging.getLogger(__name__)


def _problem(exc: Exception) -> str:
    return slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__[:64]


async def post_request(
    client: AsyncWebClient, request: PendingRequest, *, balance: Application | None, ttl: timedelta
) -> tuple[str | None, str | None]:
    """Post the request where it was asked for (the card's thread, else the channel): its ts,
    or why Slack would not take it."""
    text, blocks_ = approval_blocks.request_message(request, balance=balance, ttl=ttl)
    try:
        response = await client.chat_postMessage(
            channel=request.channel_id, thread_ts=request.thread_ts, text=text, blocks=blocks_
        )
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        return None, _problem(exc)
    return str(response["ts"]), None


async def show_decision(
    client: AsyncWebClient, request: PendingRequest, outcome: str, detail: str = ""
) -> str | None:
    """Replace the request's buttons with its decision; why not, or None."""
    if not request.message_ts:
        return "no message"
    text, blocks_ = approval_blocks.decided_message(request, outcome, detail)
    try:
        await client.chat_update(
            channel=request.channel_id, ts=request.message_ts, text=text, blocks=blocks_
        )
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        problem = _problem(exc)
        logger.warning(
            "Could not show the decision on request %s team=%s: %s",
            request.id,
            request.team_id,
            problem,
        )
        return problem
    return None


async def note_in_thread(client: AsyncWebClient, request: PendingRequest, text: str) -> None:
    """A note under the request (in the thread it was asked in)."""
    thread = request.thread_ts or request.message_ts
    try:
        await client.chat_postMessage(channel=request.channel_id, thread_ts=thread, text=text)
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning(
            "Could not note an approved switch team=%s channel=%s: %s",
            request.team_id,
            request.channel_id,
            _problem(exc),
        )


async def complete_step(
    runtime: Runtime,
    request: PendingRequest,
    *,
    outputs: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Finish the workflow step waiting on `request`, if one is: with `outputs`, or with the
    sentence `error`. Its token is then forgotten."""
    if not request.function_execution_id or not request.function_token:
        return
    client = runtime.web_client(request.function_token)
    try:
        if error is None:
            await client.functions_completeSuccess(
                function_execution_id=request.function_execution_id, outputs=outputs or {}
            )
        else:
            await client.functions_completeError(
                function_execution_id=request.function_execution_id, error=error
            )
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning(
            "Could not complete the workflow step of request %s team=%s: %s",
            request.id,
            request.team_id,
            _problem(exc),
        )
    await approvals.forget_function_token(runtime.db, request.id)


async def tell_expired(
    runtime: Runtime, client: AsyncWebClient | None, request: PendingRequest
) -> None:
    """A request nobody decided in time: its message says so, its workflow step fails."""
    if client is not None:
        await show_decision(client, request, "expired")
    await complete_step(runtime, request, error=approval_blocks.STEP_EXPIRED)


def switched_back_teller(client: AsyncWebClient | None) -> SaySwitchedBack:
    """How a timer's end is said: a note in the thread (or channel) it was set from."""

    async def say(timer: Timer, result: FallbackResult | None) -> None:
        if client is None or timer.where.channel_id is None:
            return
        text = approval_blocks.switched_back_note(
            timer.where.alias,
            timer.application_id,
            timer.set_by,
            None if result is None else result.outcome,
            None if result is None else result.error,
        )
        try:
            await client.chat_postMessage(
                channel=timer.where.channel_id, thread_ts=timer.where.thread_ts, text=text
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning(
                "Could not say a timed fallback ended team=%s channel=%s: %s",
                timer.team_id,
                timer.where.channel_id,
                _problem(exc),
            )

    return say
