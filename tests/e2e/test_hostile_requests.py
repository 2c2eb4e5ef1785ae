"""Hostile requests: replays dressed as Slack's retries, oversized or log-forging bodies,
malformed but signed payloads, and an upstream that echoes the token in odd places."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import httpx
import pytest
import respx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, text

from bot.slack.ids import TOGGLE_ACTION, TOKEN_ACTION, TOKEN_BLOCK, TOKEN_MODAL_CALLBACK
from tests.support.client import (
    ADMIN,
    APP_ID,
    FORM,
    MEMBER,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    BotClient,
    FakeApplication,
    card_with_button,
    table_rows,
    token_value,
)
from tests.support.server import SIGNING_SECRET
from tests.support.slack_server import TEAM_ID

INBOUND_LOGGER = "bot.slack.ingress.http"
MAX_LOG_LINE = 300
# The part of the token that is secret, and pieces of it: a leak may be cut short.
SECRET = PLATFORM_TOKEN[len("platform-v1-") :]
SECRET_PIECES = [SECRET[i : i + 16] for i in range(0, len(SECRET) - 15, 8)]
TOGGLE_VALUE = {"alias": "prod", "application_id": APP_ID, "enable": True}
RETRY_HEADERS = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}


@pytest.fixture
def fake_app(linked: BotClient, acedata: respx.MockRouter) -> FakeApplication:
    return FakeApplication(acedata)


def compact(value: Any) -> str:
    """JSON the way Slack writes it: no spaces."""
    return json.dumps(value, separators=(",", ":"))


def payload_form(payload: Any) -> str:
    return urlencode({"payload": compact(payload)})


def toggle_card() -> dict[str, Any]:
    return card_with_button(f"{TOGGLE_ACTION}:enable", TOGGLE_VALUE)


def audit_rows(db: Engine, action: str) -> list[tuple[Any, ...]]:
    with db.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT user_id, alias, application_id, outcome, trace_id FROM audit_events "
                "WHERE action = :action ORDER BY id"
            ),
            {"action": action},
        ).all()
    return [tuple(row) for row in rows]


def raw_audit(db: Engine) -> str:
    """Every column of every audit row, as stored."""
    with db.connect() as connection:
        return repr(connection.exec_driver_sql("SELECT * FROM audit_events").all())


def messages(caplog: pytest.LogCaptureFixture, logger: str | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records if logger is None or r.name == logger]


def served_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the bot and its server logged (not the Slack SDK's own debug output of its calls)."""
    return [r.getMessage() for r in caplog.records if r.name.split(".")[0] in {"bot", "uvicorn"}]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert all(record.exc_info is None for record in caplog.records), [
        record.getMessage() for record in caplog.records if record.exc_info
    ]
    assert "Traceback" not in caplog.text


def assert_no_secret(*places: str) -> None:
    for place in places:
        for piece in SECRET_PIECES:
            assert piece not in place


async def settle() -> None:
    """Give work that a request wrongly started a moment to show itself."""
    await asyncio.sleep(0.1)


async def raw_http(bot: BotClient, head: str, body: bytes = b"") -> int:
    """Send a hand-made HTTP/1.1 request (headers a normal client would not send) and return
    the status the bot answers with, without sending more than `body`."""
    url = urlsplit(bot.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
    return int(status_line.split()[1])


# 1. Replays dressed as Slack's retries.


async def test_toggle_press_resent_as_a_retry_is_refused(
    bot: BotClient, fake_app: FakeApplication, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    payload, key = bot.action_payload(toggle_card(), TOGGLE_ACTION, user=ADMIN)
    body = payload_form(payload)
    # Captured four minutes ago: the signed timestamp is still inside Slack's five minutes.
    headers = bot.signed_headers(body, timestamp=int(time.time()) - 4 * 60)

    assert await bot.post(body, headers, FORM) == (200, "")
    await bot.settle()
    await bot.choose_duration(user=ADMIN)  # the Enable dialog the press opened
    await bot.slack.wait_for_response(key)
    await bot.slack.wait_for_call("chat.postMessage")
    dialogs = len(bot.slack.calls_to("views.open"))
    for attempt in ("1", "2"):
        retry = {**headers, **RETRY_HEADERS, "x-slack-retry-num": attempt}
        # Acknowledged like any request (the check runs after the ack), and nothing done.
        assert await bot.post(body, retry, FORM) == (200, "")
    await settle()

    assert fake_app.posts == [{"allow_consume_global": True}]
    assert len(bot.slack.calls_to("views.open")) == dialogs  # no dialog opened again
    assert len(bot.slack.calls_to("chat.postMessage")) == 1
    assert len(bot.slack.responses[key]) == 1
    assert [row[3] for row in audit_rows(db, "fallback")] == ["changed"]
    assert messages(caplog).count(f"Refused a replayed Slack request (team={TEAM_ID})") == 2


async def test_slash_command_resent_as_a_retry_is_refused(
    linked: BotClient, acedata: respx.MockRouter, db: Engine
) -> None:
    bot = linked
    fields = bot.command_fields(f"link staging {OTHER_APP_ID}", user=ADMIN)
    key = fields["response_url"].rsplit("/", 1)[1]
    body = urlencode(fields)
    headers = bot.signed_headers(body)

    assert await bot.post(body, headers, FORM) == (200, "")
    reply = await bot.slack.wait_for_response(key)
    assert "staging" in reply["text"]
    rows, upstream = audit_rows(db, "alias_linked"), len(acedata.calls)

    answer = await bot.post(body, {**headers, **RETRY_HEADERS}, FORM)
    await settle()

    assert answer == (200, "")
    assert audit_rows(db, "alias_linked") == rows
    assert [row[1] for row in rows].count("staging") == 1
    assert len(acedata.calls) == upstream
    assert len(bot.slack.responses[key]) == 1


# 2. Refusals are logged in one bounded line, never with the body.


async def test_oversized_body_is_refused_without_logging_it(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    marker = "HOSTILE-MARKER-"
    body = "text=" + marker * (2 * 1024 * 1024 // len(marker))

    status, _ = await bot.post(body, {}, FORM)

    assert status == 413
    (line,) = messages(caplog, INBOUND_LOGGER)
    assert line.startswith("Refused a request to /slack/events: body too large")
    assert f"size={len(body)} bytes" in line
    assert all(len(message) <= MAX_LOG_LINE for message in served_lines(caplog))
    assert marker not in caplog.text
    assert bot.slack.calls == []


async def test_oversized_body_without_a_length_is_cut_off(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    marker = "CHUNKED-MARKER-"
    chunk = (marker * 4096).encode()

    async def endless() -> Any:
        for _ in range(2 * 1024 * 1024 // len(chunk) + 1):
            yield chunk

    try:
        async with bot._http.post(
            bot.base_url + "/slack/events", data=endless(), headers={"content-type": FORM}
        ) as response:
            status = response.status
    except aiohttp.ClientError:
        pytest.fail("the bot dropped the connection instead of answering 413")

    assert status == 413
    (line,) = messages(caplog, INBOUND_LOGGER)
    assert "body too large" in line
    assert all(len(message) <= MAX_LOG_LINE for message in served_lines(caplog))
    assert marker not in caplog.text


async def test_declared_length_over_the_limit_is_refused_before_the_body_arrives(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    declared = 5 * 1024 * 1024
    head = (
        "POST /slack/events HTTP/1.1\n"
        "host: quota-bot.test\n"
        f"content-type: {FORM}\n"
        f"content-length: {declared}\n"
    )
    status = await raw_http(bot, head, b"text=only-the-first-bytes")

    assert status == 413
    (line,) = messages(caplog, INBOUND_LOGGER)
    assert f"body too large (size={declared} bytes" in line


async def test_forged_log_line_in_an_unsigned_body_stays_on_one_line(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = f"team_id={TEAM_ID}&text=hi\n2026-11-26 INFO bot: forged\r\nadmin=yes"

    status, _ = await bot.post(body, {}, FORM)

    assert status == 401
    (line,) = messages(caplog, INBOUND_LOGGER)
    assert "\n" not in line and "\r" not in line
    assert "forged" not in line
    assert "forged" not in caplog.text
    assert f"team={TEAM_ID}" in line
    assert f"size={len(body.encode())} bytes" in line


async def test_stale_token_dialog_is_refused_and_the_token_never_logged(
    bot: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = table_rows(db)
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": ADMIN, "username": "uadmin", "team_id": TEAM_ID},
        "api_app_id": "A0001",
        "view": {
            "id": "V0001",
            "type": "modal",
            "callback_id": TOKEN_MODAL_CALLBACK,
            "state": {"values": {TOKEN_BLOCK: {TOKEN_ACTION: token_value(PLATFORM_TOKEN)}}},
        },
    }
    body = payload_form(payload)
    stale = bot.signed_headers(body, timestamp=int(time.time()) - 10 * 60)

    status, answer = await bot.post(body, stale, FORM)

    assert status == 401
    assert "response_action" not in answer
    (line,) = messages(caplog, INBOUND_LOGGER)
    assert "bad signature or stale timestamp" in line
    assert f"team={TEAM_ID}" in line
    assert_no_secret(caplog.text, answer)
    assert not acedata.calls
    assert table_rows(db) == before


REFUSALS_NAMING_THE_TEAM = {
    "slash command": lambda bot: urlencode(bot.command_fields("help", user=MEMBER)),
    "button press": lambda bot: payload_form(
        bot.action_payload(toggle_card(), TOGGLE_ACTION, user=ADMIN)[0]
    ),
}


async def test_refusal_line_names_the_team(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    for kind, make_body in REFUSALS_NAMING_THE_TEAM.items():
        caplog.clear()
        body = make_body(bot)
        headers = bot.signed_headers(body)
        headers["x-slack-signature"] = "v0=" + "0" * 64

        status, _ = await bot.post(body, headers, FORM)

        assert status == 401, kind
        assert messages(caplog, INBOUND_LOGGER) == [
            "Refused a request to /slack/events: bad signature or stale timestamp "
            f"(size={len(body)} bytes, team={TEAM_ID})"
        ], kind


# 3. Malformed requests: a clear 4xx, never a 500 or a traceback.


async def test_unreadable_timestamp_is_refused(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = urlencode(bot.command_fields("help", user=MEMBER))
    signer = SignatureVerifier(SIGNING_SECRET)
    for timestamp in ["soon", "1.7e9", "-60", "1700000000.5", "0x65", "9" * 40]:
        # Signed over the odd timestamp itself, so only reading the timestamp can refuse it.
        headers = {
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signer.generate_signature(timestamp=timestamp, body=body),
        }

        status, _ = await bot.post(body, headers, FORM)

        assert status == 401, timestamp
    assert bot.slack.calls == []
    assert_no_traceback(caplog)
    assert all(len(m) <= MAX_LOG_LINE for m in served_lines(caplog))


MALFORMED_BODIES = {
    "payload not json": ("payload=notjson", FORM),
    "payload a list": ("payload=" + "%5B1%2C2%5D", FORM),
    "payload null": ("payload=null", FORM),
    "json broken": ("{bad", "application/json"),
    "json a list": ("[1,2]", "application/json"),
    "json null": ("null", "application/json"),
    "json a string": ('"block_actions"', "application/json"),
}


def malformed_press(change: dict[str, Any]) -> Any:
    def make(bot: BotClient) -> str:
        payload, _ = bot.action_payload(toggle_card(), TOGGLE_ACTION, user=ADMIN)
        return payload_form(payload | change)

    return make


def malformed_submission(bot: BotClient) -> str:
    return payload_form(
        {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": {"id": ADMIN, "team_id": TEAM_ID},
            "view": None,
        }
    )


MALFORMED_PAYLOADS = {
    "no actions": malformed_press({"actions": []}),
    "user a string": malformed_press({"user": ADMIN}),
    "team a string": malformed_press({"team": TEAM_ID}),
    "actions an object": malformed_press({"actions": {"action_id": TOGGLE_ACTION}}),
    "view null": malformed_submission,
}


async def _refused_without_effect(
    bot: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    body: str,
    content_type: str,
    case: str,
) -> None:
    """`body`, correctly signed, gets 400 and one log line, and changes or sends nothing."""
    caplog.clear()
    caplog.set_level(logging.INFO)
    before, upstream = table_rows(db), len(acedata.calls)
    slack_calls, responses = len(bot.slack.calls), repr(bot.slack.responses)

    status, answer = await bot.post(body, bot.signed_headers(body), content_type)
    await settle()

    assert status == 400, (case, status, answer)
    assert len(acedata.calls) == upstream, case
    assert len(bot.slack.calls) == slack_calls, case
    assert repr(bot.slack.responses) == responses, case
    assert table_rows(db) == before, case
    assert_no_traceback(caplog)
    refusals = [m for m in messages(caplog) if m.startswith("Refused")]
    assert len(refusals) == 1, (case, refusals)
    assert all(len(m) <= MAX_LOG_LINE and "\n" not in m for m in served_lines(caplog)), case


async def test_signed_unparsable_body_is_refused(
    linked: BotClient, acedata: respx.MockRouter, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    for case, (body, content_type) in MALFORMED_BODIES.items():
        await _refused_without_effect(linked, acedata, db, caplog, body, content_type, case)


@pytest.mark.parametrize("make_body", MALFORMED_PAYLOADS.values(), ids=MALFORMED_PAYLOADS.keys())
async def test_signed_payload_of_the_wrong_shape_is_refused(
    bot: BotClient,
    fake_app: FakeApplication,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    make_body: Any,
) -> None:
    await _refused_without_effect(bot, acedata, db, caplog, make_body(bot), FORM, "payload")
    assert fake_app.posts == []


async def test_command_containing_the_word_payload_is_still_answered(
    linked: BotClient, db: Engine
) -> None:
    """`payload` is a valid alias: a slash command's form body that merely contains the word
    is still a slash command, not an interaction payload."""
    fields = linked.command_fields(f"link payload {OTHER_APP_ID}", user=ADMIN)
    key = fields["response_url"].rsplit("/", 1)[1]

    status, answer = await linked.post_form(fields)

    assert (status, answer) == (200, "")
    reply = await linked.slack.wait_for_response(key)
    assert "*payload*" in reply["text"]
    assert [row[1] for row in audit_rows(db, "alias_linked")].count("payload") == 1


# 4. A token Ace Data Cloud echoes in its error's code, trace id or x-trace-id header.

ECHOES = {
    "code and trace_id": (
        {
            "error": {"code": f"forbidden:{PLATFORM_TOKEN}", "message": "Not yours"},
            "trace_id": f"tr-{PLATFORM_TOKEN}",
        },
        {},
        "tr-[redacted]",
    ),
    "x-trace-id header": (
        {"error": {"code": f"denied {PLATFORM_TOKEN}", "message": "Not yours"}},
        {"x-trace-id": f"hdr-{PLATFORM_TOKEN}"},
        "hdr-[redacted]",
    ),
    "code cut short": (
        {"error": {"code": "c" * 70 + PLATFORM_TOKEN, "message": "Not yours"}},
        {"x-trace-id": f"Bearer {PLATFORM_TOKEN}"},
        "Bearer [redacted]",
    ),
}


@pytest.mark.parametrize(("echo", "headers", "trace"), ECHOES.values(), ids=ECHOES.keys())
async def test_token_echoed_in_a_failed_lookup_is_redacted(
    linked: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    echo: dict[str, Any],
    headers: dict[str, str],
    trace: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    acedata.get(f"/applications/{APP_ID}").respond(403, json=echo, headers=headers)

    reply = await linked.quota("prod", user=MEMBER)

    assert "has no access to application" in reply.text
    assert f"(trace id `{trace}`)" in reply.text
    assert_no_secret(
        reply.text,
        repr(linked.slack.responses),
        repr([call.data for call in linked.slack.calls]),
        caplog.text,
        raw_audit(db),
    )


POST_FAILURES = {
    "403 with code and trace_id": (403, ECHOES["code and trace_id"][:2]),
    "403 with x-trace-id": (403, ECHOES["x-trace-id header"][:2]),
    "500 with x-trace-id": (500, ECHOES["x-trace-id header"][:2]),
}


@pytest.mark.parametrize(("status", "answer"), POST_FAILURES.values(), ids=POST_FAILURES.keys())
async def test_token_echoed_by_a_failed_switch_is_redacted(
    bot: BotClient,
    fake_app: FakeApplication,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
    status: int,
    answer: tuple[dict[str, Any], dict[str, str]],
) -> None:
    caplog.set_level(logging.DEBUG)
    echo, headers = answer
    fake_app.post_answer = httpx.Response(status, json=echo, headers=headers)

    key = await bot.press_switch(toggle_card(), TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)

    assert "Global fallback was not changed." in reply["text"]
    assert "[redacted]" in reply["text"]
    ((user, alias, application_id, outcome, trace_id),) = audit_rows(db, "fallback")
    assert (user, alias, application_id, outcome) == (ADMIN, "prod", APP_ID, "failed")
    assert trace_id is not None and "[redacted]" in trace_id
    assert_no_secret(
        reply["text"],
        repr(bot.slack.responses),
        repr([call.data for call in bot.slack.calls]),
        caplog.text,
        raw_audit(db),
    )


async def test_trace_id_that_grows_when_redacted_is_still_audited(
    bot: BotClient, fake_app: FakeApplication, db: Engine
) -> None:
    """Redaction lengthens short token-like words; the audit row must still be written."""
    trace = ("xapp-1 " * 15)[:100]
    fake_app.post_answer = httpx.Response(
        403, json={"error": {"code": "forbidden", "message": "No"}}, headers={"x-trace-id": trace}
    )

    key = await bot.press_switch(toggle_card(), TOGGLE_ACTION, user=ADMIN)
    reply = await bot.slack.wait_for_response(key)

    assert "Global fallback was not changed." in reply["text"]
    assert "xapp-1" not in reply["text"]
    ((*_, outcome, trace_id),) = audit_rows(db, "fallback")
    assert outcome == "failed"
    assert "[redacted]" in trace_id


async def test_a_client_that_leaves_mid_body_costs_one_line_and_no_traceback(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    url = urlsplit(bot.base_url)
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
    )
    _, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head.encode() + b"team_id=T0001&text=")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await bot.settle()
    for _ in range(100):
        if messages(caplog, INBOUND_LOGGER):
            break
        await asyncio.sleep(0.02)

    assert messages(caplog, INBOUND_LOGGER) == [
        "Refused a request to /slack/events: client left before sending the whole body "
        "(size=19 bytes, team=T0001)"
    ]
    assert_no_traceback(caplog)


async def test_an_id_longer_than_slack_ever_sends_is_malformed(
    bot: BotClient, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    fields = bot.command_fields("admins", user=ADMIN)
    fields["team_id"] = "T" + "0" * 40
    before = table_rows(db)

    status, _ = await bot.post_form(fields)

    assert status == 400
    assert table_rows(db) == before
    assert_no_traceback(caplog)
