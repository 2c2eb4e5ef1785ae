"""*Request global fallback* from a workflow: at once without two-person approval, else a
request in the channel that completes the step when decided or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import Engine, text

from bot.slack import ids
from bot.slack.install.tokens import SlackAccess
from bot.worker import guard_round
from tests.support.client import (
    ADMIN,
    CHANNEL,
    LISTED_ADMIN,
    MEMBER,
    BotClient,
    FakeApplication,
    blocks_of,
    everything_stored,
)
from tests.support.functions import FUNCTION_TOKEN_PREFIX, completion, run_step

REQUEST_TS = "1700000000.000200"


@pytest.fixture
def fake_app(linked: BotClient, acedata: respx.MockRouter) -> FakeApplication:
    return FakeApplication(acedata)


def inputs(**more: Any) -> dict[str, Any]:
    return {"alias": "prod", "enable": True, "channel_id": CHANNEL, "user_id": ADMIN, **more}


def completed(bot: BotClient, execution: str) -> list[str]:
    return [
        call.method
        for call in bot.slack.calls
        if call.method.startswith("functions.complete")
        and call.data.get("function_execution_id") == execution
    ]


def stored_token(db: Engine) -> Any:
    with db.connect() as connection:
        return connection.execute(text("SELECT function_token FROM fallback_requests")).scalar()


async def test_without_approval_it_switches_for_the_duration_and_completes(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    started = datetime.now(UTC)
    execution = await run_step(linked, ids.REQUEST_FALLBACK_STEP, inputs(duration="1h"))
    kind, outputs = await completion(linked, execution)

    assert fake_app.posts == [{"allow_consume_global": True}]
    assert kind == "success" and outputs["fallback_on"] is True
    until = datetime.fromisoformat(outputs["until"])
    assert started + timedelta(minutes=58) < until < started + timedelta(minutes=61)
    note = linked.slack.calls_to("chat.postMessage")[-1]
    assert note.data["channel"] == CHANNEL
    assert note.data["text"].startswith(f"<@{ADMIN}> enabled global fallback for *prod* (was off)")
    assert note.data["text"].endswith("(from a workflow)")


async def test_switching_off_never_waits_for_approval(
    fake_app: FakeApplication, linked: BotClient
) -> None:
    await linked.quota("policy approval on", user=ADMIN)
    fake_app.allow = True
    execution = await run_step(linked, ids.REQUEST_FALLBACK_STEP, inputs(enable=False))
    assert await completion(linked, execution) == ("success", {"fallback_on": False, "until": ""})
    assert fake_app.allow is False


@pytest.mark.parametrize(
    ("more", "said"),
    [
        ({"user_id": MEMBER}, "Only Quota Bot admins may switch the global fallback"),
        ({"duration": "forever"}, "“duration” must be one of until_off, 1h, 4h, until_morning"),
        ({"enable": "maybe"}, "“enable” input is not a value"),
        ({"channel_id": None}, "The step needs its “channel_id” input"),
    ],
    ids=["member", "duration", "enable", "no channel"],
)
async def test_refusals_complete_with_an_error_and_change_nothing(
    fake_app: FakeApplication, linked: BotClient, more: dict[str, Any], said: str
) -> None:
    execution = await run_step(linked, ids.REQUEST_FALLBACK_STEP, inputs(**more))
    kind, outputs = await completion(linked, execution)
    assert kind == "error" and said in outputs["error"]
    assert fake_app.posts == []


async def test_ace_data_cloud_refusing_the_change_fails_the_step(
    fake_app: FakeApplication, linked: BotClient
) -> None:
    fake_app.post_answer = httpx.Response(403, json={"detail": "no"})
    execution = await run_step(linked, ids.REQUEST_FALLBACK_STEP, inputs())
    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert "no access to that application" in outputs["error"]
    assert fake_app.allow is False


async def _requested(bot: BotClient) -> tuple[str, dict[str, Any]]:
    await bot.quota("policy approval on", user=ADMIN)
    execution = await run_step(bot, ids.REQUEST_FALLBACK_STEP, inputs(duration="4h"))
    await bot.settle()
    post = bot.slack.calls_to("chat.postMessage")[-1]
    assert post.data["text"].startswith(f"<@{ADMIN}> asks to enable global fallback for *prod*")
    assert post.data["channel"] == CHANNEL and not post.data.get("thread_ts")
    return execution, {"blocks": blocks_of(post)}


async def test_with_approval_the_step_waits_and_completes_when_approved(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    execution, request = await _requested(linked)
    assert completed(linked, execution) == []
    assert fake_app.posts == []
    assert stored_token(db) is not None
    assert FUNCTION_TOKEN_PREFIX + execution not in everything_stored(db)  # encrypted

    own = await linked.press(request, ids.APPROVE_ACTION, user=ADMIN, message_ts=REQUEST_TS)
    assert "another admin has to approve it" in (await linked.slack.wait_for_response(own))["text"]
    await linked.press(request, ids.APPROVE_ACTION, user=LISTED_ADMIN, message_ts=REQUEST_TS)
    kind, outputs = await completion(linked, execution)

    assert fake_app.posts == [{"allow_consume_global": True}]
    assert kind == "success"
    assert outputs["fallback_on"] is True and outputs["approved_by"] == LISTED_ADMIN
    assert outputs["until"] != ""
    (call,) = [c for c in linked.slack.calls if c.method == "functions.completeSuccess"]
    assert call.headers["Authorization"] == f"Bearer {FUNCTION_TOKEN_PREFIX}{execution}"
    assert stored_token(db) is None  # forgotten once used


async def test_a_rejected_request_fails_the_step(
    fake_app: FakeApplication, linked: BotClient
) -> None:
    execution, request = await _requested(linked)
    await linked.press(request, ids.REJECT_ACTION, user=LISTED_ADMIN, message_ts=REQUEST_TS)
    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert outputs["error"] == (
        f"The request was rejected by a Quota Bot admin (<@{LISTED_ADMIN}>), so nothing was "
        "changed."
    )
    assert fake_app.posts == []


async def test_an_expired_request_fails_the_step_once(
    fake_app: FakeApplication, linked: BotClient, db: Engine
) -> None:
    execution, _ = await _requested(linked)
    assert linked.runtime is not None
    access = SlackAccess.open(linked.runtime, retry_seconds=0)
    later = datetime.now(UTC) + timedelta(hours=2)
    await guard_round(linked.runtime, access, now=later)
    await guard_round(linked.runtime, access, now=later)

    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert outputs["error"].startswith("Nobody approved the request in time")
    assert completed(linked, execution) == ["functions.completeError"]
    assert fake_app.posts == []
