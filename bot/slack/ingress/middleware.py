"""Checks on every Slack request after its signature is verified, before any listener runs:
its shape, that it comes from the workspace the bot serves, and (finished by the listener after
its ack, `first_delivery`) that it is not a replay."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncBoltRequest

from ... import logs, metrics
from ...db.database import DatabaseUnavailable
from ...runtime import Runtime
from .. import blocks
from . import envelope

logger = logging.getLogger(__name__)

# Keys under which the guards leave what they learned in Bolt's context for the listeners.
ENVELOPE = "quota_bot_envelope"
REPLAY_CHECK = "quota_bot_replay_check"  # the task recording this request's signature
REPLAY_UNCHECKED = "quota_bot_replay_unchecked"
RECEIVED_AT = "quota_bot_received_at"  # the event loop's clock when the request arrived
# How long the replay check may take (a dialog's waits before its ack, which Slack wants in 3 s).
REPLAY_CHECK_BUDGET = 1.0


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Every check, in order, before any listener runs."""
    app.middleware(_admit_socket_mode_request(runtime))
    app.middleware(_check_for_replays(runtime))
    app.middleware(_serve_only_the_installed_workspace)


Middleware = Callable[..., Awaitable[BoltResponse | None]]


def _admit_socket_mode_request(runtime: Runtime) -> Middleware:
    """Over HTTP the shape and the busy check come before dispatch (`ingress.http`); a Socket
    Mode request gets both here."""

    async def admit(
        req: AsyncBoltRequest, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        if ENVELOPE in req.context:  # read before dispatch, over HTTP
            return await next()
        received_at = asyncio.get_running_loop().time()
        try:
            req.context[ENVELOPE] = envelope.read(req.body)
        except ValueError as exc:
            logger.warning(
                "Refused a malformed Slack request (team=%s): %s", req.context.team_id, exc
            )
            metrics.REQUESTS.labels("unknown", "malformed").inc()
            return BoltResponse(status=400, body="Malformed request.")
        context = begin_request(req.context[ENVELOPE], req.body, received_at)
        busy = busy_answer(runtime, req.context[ENVELOPE], req.body)
        if busy is not None:
            context.refused_as = "busy"
        return busy if busy is not None else await next()

    return admit


def _check_for_replays(runtime: Runtime) -> Middleware:
    async def check_for_replays(
        req: AsyncBoltRequest, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        signature = _header(req, "x-slack-signature")
        if signature is None:  # Socket Mode: Slack's own connection, nothing to replay
            return await next()
        # An event Slack delivers again (its retries are signed anew) is the same event_id.
        key = _event_key(req.body) or signature
        # Started now, awaited by the listener after its ack (`first_delivery`): the ack never
        # waits on the database. A dialog's answer is its ack, so a submission waits here.
        budget = min(REPLAY_CHECK_BUDGET, runtime.settings.database_timeout)
        check = asyncio.ensure_future(runtime.replays.first_time_seen(key, timeout=budget))
        check.add_done_callback(_retrieve)  # a failure nobody awaited is not "never retrieved"
        req.context[REPLAY_CHECK] = check
        submission = isinstance(req.context.get(ENVELOPE), envelope.ViewSubmission)
        if submission and not await first_delivery(req.context, before_ack=True):
            return BoltResponse(status=401, body="This request was already received.")
        return await next()

    return check_for_replays


async def _serve_only_the_installed_workspace(
    context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    installed = context.authorize_result.team_id if context.authorize_result else None
    request = context.get(ENVELOPE)
    user_team = request.user.team_id if isinstance(request, envelope.ButtonPress) else None
    acting = {context.team_id, user_team} - {None}
    if installed and acting - {installed}:
        logger.warning(
            "Refused a request from workspace(s) %s; this bot serves %s",
            sorted(acting - {installed}),
            installed,
        )
        if isinstance(request, envelope.SlashCommand):
            return _json(200, {"response_type": "ephemeral", "text": blocks.OTHER_WORKSPACE})
        return BoltResponse(status=200, body="")
    return await next()


async def first_delivery(context: AsyncBoltContext, *, before_ack: bool = False) -> bool:
    """Whether this request is seen for the first time: False for a replay (logged and counted;
    do nothing for it). When the database cannot tell, True, with REPLAY_UNCHECKED set so that
    anything that changes state refuses."""
    check: asyncio.Future[bool] | None = context.get(REPLAY_CHECK)
    if check is None:
        return True
    try:
        fresh = await check
    except DatabaseUnavailable as exc:
        logger.warning("Replay check unavailable (team=%s): %s", context.team_id, exc)
        context[REPLAY_UNCHECKED] = True
        return True
    if not fresh:
        logger.warning("Refused a replayed Slack request (team=%s)", context.team_id)
        request = logs.current_request()
        if request is not None and before_ack:
            request.refused_as = "replay"  # counted with its answer
        elif request is not None:
            metrics.REQUESTS.labels(request.kind, "replay").inc()
    return fresh


_KINDS: dict[type, str] = {
    envelope.SlashCommand: "command",
    envelope.ButtonPress: "button",
    envelope.ViewSubmission: "view",
}
_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")


def begin_request(shape: object, body: dict[str, Any], received_at: float) -> logs.RequestContext:
    """The request at hand, for its log lines and metrics: its kind, and the workspace and
    channel the verified envelope names."""
    kind = _KINDS.get(type(shape)) or ("event" if "event" in body else "other")
    team = channel = None
    if isinstance(shape, envelope.SlashCommand):
        team, channel = shape.team_id, shape.channel_id
    elif isinstance(shape, envelope.ButtonPress):
        team, channel = shape.team.id, shape.channel_id
    elif isinstance(shape, envelope.ViewSubmission):
        team = shape.team.id
    elif isinstance(body.get("team_id"), str) and _SLACK_ID.fullmatch(body["team_id"]):
        team = body["team_id"]
    return logs.begin_request(logs.RequestContext(kind, received_at, team, channel))


def count_answer(request: logs.RequestContext | None, status: int) -> None:
    """Count a request by its kind and what it was answered, and time its ack."""
    if request is None:
        return
    if request.refused_as is not None:
        outcome = request.refused_as
    elif status < 300:
        outcome = "acked"
    elif status == 400:
        outcome = "malformed"
    else:
        outcome = "error" if status >= 500 else "refused"
    metrics.REQUESTS.labels(request.kind, outcome).inc()
    elapsed = asyncio.get_running_loop().time() - request.received_at
    metrics.ACK_SECONDS.labels(request.kind).observe(elapsed)


def busy_answer(runtime: Runtime, request: object, body: dict[str, Any]) -> BoltResponse | None:
    """Past MAX_IN_FLIGHT requests' work, the answer that says so at once (None: serve it).
    An ack that waits in a queue reaches Slack too late, and the user is told nothing; and the
    cheaper the refusal, the more of the process is left for the work it has taken on."""
    if len(runtime.in_flight) < runtime.settings.max_in_flight or _must_serve(body):
        return None
    _turned_away.note(len(runtime.in_flight))
    if isinstance(request, envelope.SlashCommand):
        return _json(200, {"response_type": "ephemeral", "text": blocks.BUSY})
    if isinstance(request, envelope.ViewSubmission):
        errors = {blocks.TOKEN_BLOCK: blocks.BUSY_FIELD}
        return _json(200, {"response_action": "errors", "errors": errors})
    return BoltResponse(status=200, body="")


# Events that must be handled however busy the process is: they delete secrets.
_ALWAYS_SERVED = frozenset({"app_uninstalled", "tokens_revoked"})


def _must_serve(body: dict[str, Any]) -> bool:
    event = body.get("event")
    return isinstance(event, dict) and event.get("type") in _ALWAYS_SERVED


class _TurnedAway:
    """Requests turned away as busy, logged at most once every ten seconds."""

    EVERY = 10.0

    def __init__(self) -> None:
        self.count = 0
        self.logged_at = float("-inf")

    def note(self, in_flight: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged_at >= self.EVERY:
            logger.warning(
                "Busy: %d request(s) answered 'try again' (%d in flight, MAX_IN_FLIGHT reached)",
                self.count,
                in_flight,
            )
            self.count, self.logged_at = 0, now


_turned_away = _TurnedAway()


def _json(status: int, body: dict[str, object]) -> BoltResponse:
    return BoltResponse(
        status=status, body=json.dumps(body), headers={"content-type": "application/json"}
    )


_EVENT_ID = re.compile(r"Ev[A-Za-z0-9]{4,40}")


def _event_key(body: dict[str, Any]) -> str | None:
    """`event:<event_id>` for an Events API callback, so that a redelivery is seen as one."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    if isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id):
        return f"event:{event_id}"
    return None


def _retrieve(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()


def _header(req: AsyncBoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if values else None
