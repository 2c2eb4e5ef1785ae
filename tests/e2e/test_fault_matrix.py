"""The fault matrix: every way Ace Data Cloud and Slack can fail, on every surface that meets
it. The table is the documentation: each cell is a defined result for the user, no unhandled
exception, and nothing lost (audit rows, schedules, digests, alert state).

| surface     | Ace Data Cloud fails                 | Slack fails                          |
|-------------|--------------------------------------|--------------------------------------|
| card        | a private sentence on what failed    | (answered through `response_url`)    |
| toggle      | a private answer; the attempt audited| the change made, audited             |
| App Home    | published, the alias unavailable     | one log line, nothing else breaks    |
| digest      | sent; the alias's line says it       | not now: tried again; gone: paused   |
| alert check | skipped, its state kept              | state kept; a channel gone: paused   |
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import Engine, text

from bot.slack import blocks
from bot.slack.ids import TOGGLE_ACTION
from bot.slack.install.tokens import SlackAccess
from bot.worker import alert_round, digest_round
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    BotClient,
    FakeApplication,
    answer_with,
    application,
    blocks_of,
)
from tests.support.slack_server import SlackServer

HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"
ACEDATA_FAULTS: dict[str, tuple[httpx.Response | Exception, str]] = {
    "401": (httpx.Response(401, json={"detail": "Invalid token."}), "was rejected"),
    "403": (httpx.Response(403, json={"detail": "Forbidden."}), "has no access"),
    "404": (httpx.Response(404, json={"detail": "Not found."}), "has no application"),
    "429": (httpx.Response(429, json={"detail": "Slow down"}), "try again in a minute"),
    "429 Retry-After": (
        httpx.Response(429, headers={"Retry-After": "120"}, json={"detail": "Slow down"}),
        "try again in 120 s",
    ),
    "500": (httpx.Response(500, json={"error": {"code": "x", "message": "Boom"}}), "HTTP 500"),
    "502": (httpx.Response(502, text=HTML), "HTTP 502"),
    "504": (httpx.Response(504, text=HTML), "HTTP 504"),
    "read timeout": (httpx.ReadTimeout("read timed out"), "did not answer in time"),
    "refused": (httpx.ConnectError("connection refused"), "Ace Data Cloud"),
    "reset": (httpx.ReadError("connection reset by peer"), "Ace Data Cloud"),
    "not JSON": (httpx.Response(200, text="not json at all"), "could not read"),
    "HTML": (httpx.Response(200, text=HTML), "could not read"),
    "10 MB body": (httpx.Response(200, content=b"[" + b"1," * 5_000_000 + b"1]"), "Ace Data"),
    "missing fields": (httpx.Response(200, json={"id": APP_ID}), "could not read"),
    "mistyped fields": (
        httpx.Response(200, json=application(APP_ID) | {"remaining_amount": {"a": 1}}),
        "could not read",
    ),
}
SLACK_FAULTS: dict[str, tuple[str, Any]] = {
    "429": ("rate_limits", 10),
    "500": ("http_errors", 500),
    "503": ("http_errors", 503),
    "dropped": ("drops", None),
    "invalid_auth": ("failures", "invalid_auth"),
    "token_revoked": ("failures", "token_revoked"),
    "channel_not_found": ("failures", "channel_not_found"),
    "not_in_channel": ("failures", "not_in_channel"),
}
PERMANENT = {"invalid_auth", "token_revoked", "channel_not_found", "not_in_channel"}


def no_unhandled_exception(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.exc_info and r.name.startswith("bot")]


def slack_fails(slack: SlackServer, method: str, fault: str) -> None:
    kind, value = SLACK_FAULTS[fault]
    match kind:
        case "rate_limits":
            slack.rate_limits[method] = value
        case "http_errors":
            slack.http_errors[method] = value
        case "drops":
            slack.drops.add(method)
        case _:
            slack.failures[method] = value


def rows(db: Engine, sql: str) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def upstream_fails(acedata: respx.MockRouter, fault: str) -> None:
    answer_with(acedata.get(f"/applications/{APP_ID}"), ACEDATA_FAULTS[fault][0])


async def rounds(bot: BotClient, *, at: datetime) -> None:
    assert bot.runtime is not None
    access = SlackAccess.open(bot.runtime, retry_seconds=0)
    await digest_round(bot.runtime, access, now=at)
    await alert_round(bot.runtime, access, now=at)


async def open_home(bot: BotClient) -> None:
    body = json.dumps(
        {
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": f"Ev{datetime.now(UTC).timestamp():.6f}".replace(".", "x"),
            "event_time": int(datetime.now(UTC).timestamp()),
            "event": {"type": "app_home_opened", "user": ADMIN, "tab": "home"},
        }
    )
    status, _ = await bot.post(body, bot.signed_headers(body), "application/json")
    assert status == 200


# --- Ace Data Cloud failing -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ACEDATA_FAULTS, ids=ACEDATA_FAULTS.keys())
async def test_card_when_ace_data_cloud_fails(
    linked: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    upstream_fails(acedata, fault)

    reply = await linked.quota("prod", user=MEMBER)

    assert reply is not None and reply.response_type == "ephemeral"
    assert reply.text.startswith(":warning:") and ACEDATA_FAULTS[fault][1] in reply.text
    assert no_unhandled_exception(caplog)


@pytest.mark.parametrize("fault", ACEDATA_FAULTS, ids=ACEDATA_FAULTS.keys())
async def test_toggle_when_ace_data_cloud_fails(
    linked: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    fake = FakeApplication(acedata)
    reply = await linked.quota("prod", user=MEMBER)
    assert reply is not None
    fake.post_answer = ACEDATA_FAULTS[fault][0]
    audited = len(rows(db, "SELECT id FROM audit_events WHERE action = 'fallback'"))

    key = await linked.press_switch(reply.body, TOGGLE_ACTION, user=ADMIN)
    await linked.slack.wait_for_response(key)
    await linked.settle()

    answers = [answer["text"] for answer in linked.slack.responses[key]]
    assert answers and blocks.INTERNAL_ERROR not in answers
    outcomes = rows(db, "SELECT outcome FROM audit_events WHERE action = 'fallback'")
    assert len(outcomes) == audited + 1
    assert no_unhandled_exception(caplog)


@pytest.mark.parametrize("fault", ACEDATA_FAULTS, ids=ACEDATA_FAULTS.keys())
async def test_app_home_when_ace_data_cloud_fails(
    linked: BotClient, acedata: respx.MockRouter, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    upstream_fails(acedata, fault)

    await open_home(linked)
    published = await linked.slack.wait_for_call("views.publish")
    await linked.settle()

    view = json.dumps(published.data)
    assert "prod" in view and blocks.HOME_UNAVAILABLE not in view
    assert no_unhandled_exception(caplog)


@pytest.mark.parametrize("fault", ACEDATA_FAULTS, ids=ACEDATA_FAULTS.keys())
async def test_digest_and_alert_check_when_ace_data_cloud_fails(
    linked: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    await linked.quota("digest daily 09:00 UTC", user=ADMIN)
    await linked.quota("alert prod below 100000", user=ADMIN)
    upstream_fails(acedata, fault)
    linked.slack.calls.clear()

    await rounds(linked, at=datetime.now(UTC) + timedelta(days=1, hours=1))

    [digest] = [
        call
        for call in linked.slack.calls_to("chat.postMessage")
        if call.data.get("channel") == CHANNEL
    ]
    assert ACEDATA_FAULTS[fault][1] in json.dumps(blocks_of(digest))
    assert rows(db, "SELECT outcome FROM digest_deliveries") == [("sent",)]
    assert rows(db, "SELECT said, paused_reason FROM quota_alerts") == [(0, None)]
    assert no_unhandled_exception(caplog)


# --- Slack failing ------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"digest_lease_seconds": 2}])
@pytest.mark.parametrize("fault", SLACK_FAULTS, ids=SLACK_FAULTS.keys())
async def test_digest_when_slack_fails(
    linked: BotClient,
    slack: SlackServer,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    await linked.quota("digest daily 09:00 UTC", user=ADMIN)
    slack_fails(slack, "chat.postMessage", fault)

    await rounds(linked, at=datetime.now(UTC) + timedelta(days=1, hours=1))

    [(outcome, error, paused)] = rows(
        db,
        "SELECT d.outcome, d.slack_error, s.paused_reason FROM digest_deliveries d "
        "JOIN digest_schedules s ON s.id = d.schedule_id",
    )
    if fault in PERMANENT:
        assert (outcome, paused is not None) == ("failed", True)
    else:
        # Tried again while the lease lasts (sent once Slack answers), else left for one more
        # claim, whose failure is recorded with what Slack said; never paused.
        assert paused is None
        assert outcome in {"sent", "claimed", "failed"}
        if outcome == "failed":
            assert error not in (None, "internal_error")
    assert rows(db, "SELECT count(*) FROM digest_schedules") == [(1,)]
    assert no_unhandled_exception(caplog)


@pytest.mark.parametrize("fault", SLACK_FAULTS, ids=SLACK_FAULTS.keys())
async def test_alert_check_when_slack_fails(
    linked: BotClient,
    slack: SlackServer,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    await linked.quota("alert prod below 100000", user=ADMIN)
    slack_fails(slack, "chat.postMessage", fault)

    await rounds(linked, at=datetime.now(UTC) + timedelta(hours=1))

    [(said, paused)] = rows(db, "SELECT said, paused_reason FROM quota_alerts")
    assert said == 0  # not told, so it will be told next time
    assert (paused is not None) == (fault in PERMANENT)
    assert no_unhandled_exception(caplog)


@pytest.mark.parametrize("fault", SLACK_FAULTS, ids=SLACK_FAULTS.keys())
async def test_app_home_when_slack_fails(
    linked: BotClient, slack: SlackServer, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    slack_fails(slack, "views.publish", fault)

    await open_home(linked)
    await linked.slack.wait_for_call("views.publish")
    await linked.settle()

    assert no_unhandled_exception(caplog)
    assert any("views.publish failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fault", SLACK_FAULTS, ids=SLACK_FAULTS.keys())
async def test_toggle_when_slack_fails_to_take_the_thread_note(
    linked: BotClient,
    acedata: respx.MockRouter,
    slack: SlackServer,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    fake = FakeApplication(acedata)
    reply = await linked.quota("prod", user=MEMBER)
    assert reply is not None
    slack_fails(slack, "chat.postMessage", fault)

    key = await linked.press_switch(reply.body, TOGGLE_ACTION, user=ADMIN)
    await linked.slack.wait_for_response(key)
    await linked.settle()

    assert fake.allow is True
    assert rows(db, "SELECT outcome FROM audit_events WHERE action = 'fallback'")[-1] == (
        "changed",
    )
    assert no_unhandled_exception(caplog)
