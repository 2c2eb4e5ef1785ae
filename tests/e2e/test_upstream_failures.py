"""Each way Ace Data Cloud can fail gives its own clear sentence, and changes nothing."""

from __future__ import annotations

import httpx
import pytest
import respx
from sqlalchemy import Engine

from tests.support.client import (
    ADMIN,
    APP_ID,
    MEMBER,
    OTHER_APP_ID,
    BotClient,
    answer_with,
    application,
    table_rows,
)

TRACE = "trace-7f3a"

FAILURES = {
    "401": (
        httpx.Response(401, json={"error": {"code": "invalid_token", "message": "Bad token"}}),
        "token for this workspace was rejected",
    ),
    "403": (
        httpx.Response(
            403, json={"error": {"code": "forbidden", "message": "Not yours"}, "trace_id": TRACE}
        ),
        "has no access to application",
    ),
    "404": (
        httpx.Response(404, json={"detail": "Not found."}),
        "Ace Data Cloud has no application",
    ),
    "429": (httpx.Response(429, json={"detail": "Slow down"}), "rate-limiting requests"),
    "500": (
        httpx.Response(500, json={"error": {"code": "internal", "message": "Boom"}}),
        "(HTTP 500)",
    ),
    "timeout": (httpx.ReadTimeout("read timed out"), "did not answer in time"),
    "not json": (
        httpx.Response(200, text="<html>Bad Gateway</html>"),
        "that the bot could not read",
    ),
    "missing fields": (
        httpx.Response(200, json={"id": APP_ID, "service": {"title": "Midjourney"}}),
        "missing or had invalid fields: remaining_amount",
    ),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
async def test_card_lookup_failure_is_one_clear_sentence(
    linked: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    failure: tuple[httpx.Response | Exception, str],
) -> None:
    answer, expected = failure
    answer_with(acedata.get(f"/applications/{APP_ID}"), answer)
    before = table_rows(db)

    reply = await linked.quota("prod", user=MEMBER)

    assert reply.response_type == "ephemeral"
    assert expected in reply.text
    assert "Traceback" not in reply.text
    assert table_rows(db) == before


async def test_trace_id_is_shown_for_support(linked: BotClient, acedata: respx.MockRouter) -> None:
    acedata.get(f"/applications/{APP_ID}").respond(
        403, json={"error": {"code": "forbidden", "message": "Not yours"}, "trace_id": TRACE}
    )
    reply = await linked.quota("prod", user=MEMBER)
    assert f"trace id `{TRACE}`" in reply.text
    assert "“Not yours”" in reply.text


async def test_transient_errors_are_retried_before_giving_up(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json=application(remaining=42)),
    ]
    route.calls.clear()
    reply = await linked.quota("prod", user=MEMBER)
    assert reply.response_type == "in_channel"
    assert "42.00 Credits" in reply.text
    assert route.call_count == 3


async def test_not_found_is_not_retried(linked: BotClient, acedata: respx.MockRouter) -> None:
    route = acedata.get(f"/applications/{APP_ID}").respond(404)
    route.calls.clear()
    await linked.quota("prod", user=MEMBER)
    assert route.call_count == 1


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
async def test_link_is_refused_when_the_application_cannot_be_read(
    linked: BotClient,
    acedata: respx.MockRouter,
    db: Engine,
    failure: tuple[httpx.Response | Exception, str],
) -> None:
    answer, expected = failure
    answer_with(acedata.get(f"/applications/{OTHER_APP_ID}"), answer)
    before = table_rows(db)

    reply = await linked.quota(f"link other {OTHER_APP_ID}", user=ADMIN)

    assert reply.response_type == "ephemeral"
    assert expected in reply.text
    assert "The alias was not linked." in reply.text
    assert table_rows(db) == before


async def test_failure_names_the_alias_and_its_application(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    acedata.get(f"/applications/{APP_ID}").respond(404, json={"detail": "Not found."})
    reply = await linked.quota("prod", user=MEMBER)
    assert f"Ace Data Cloud has no application `{APP_ID}` for this account" in reply.text
    assert "An admin can re-link *prod*: `/quota link prod &lt;application-id&gt;`" in reply.text
