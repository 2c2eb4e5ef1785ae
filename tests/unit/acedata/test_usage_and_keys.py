"""The client's reads of usage by API, usage records and API keys, and its one key change: what
is kept of an answer, what is refused, and that a key's secrets never outlive the parse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import respx

from bot.acedata import AceDataClient, AceDataError, MalformedResponse, UpstreamTimeout
from tests.support.client import ACEDATA_API, APP_ID, OTHER_APP_ID, PLATFORM_TOKEN

UNTIL = datetime(2026, 12, 4, 12, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=7)
SECRET = "sk-secret-do-not-keep-4711"


@pytest.fixture
async def client(acedata: respx.MockRouter) -> AsyncIterator[AceDataClient]:
    async with AceDataClient(ACEDATA_API.removesuffix("/api/v1"), backoff_base=0.01) as client:
        yield client


def key(key_id: str, **fields: object) -> dict[str, object]:
    return {
        "id": key_id,
        "name": f"key {key_id}",
        "type": "Token",
        "application_id": APP_ID,
        "used_amount": 12.5,
        "limited_amount": None,
        "expired_at": None,
        "token": SECRET,
        **fields,
    }


async def test_usage_by_api_keeps_each_api_and_its_title_in_the_asked_zone(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get("/usage/apis/aggregate/").respond(
        json={
            "total": 7.5,
            "items": [
                {"date": "2026-12-03", "api_id": "a1", "amount": 2.5},
                {"date": "2026-12-03", "api_id": "a2", "amount": "1.0"},
                {"date": "2026-12-04", "api_id": "a1", "amount": 4},
                {"date": "2026-12-04", "amount": 0.5, "application_id": OTHER_APP_ID},
            ],
            "apis": {"a1": {"title": "Midjourney Imagine"}, "a2": "odd", "a3": {"title": ""}},
        }
    )
    usage = await client.usage_by_api(
        PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL, zone="Asia/Shanghai"
    )
    params = route.calls.last.request.url.params
    assert params["timezone"] == "Asia/Shanghai"
    assert params["application_id"] == APP_ID
    assert [(i.day, i.api_id, i.amount) for i in usage.items] == [
        (date(2026, 12, 3), "a1", Decimal("2.5")),
        (date(2026, 12, 3), "a2", Decimal("1.0")),
        (date(2026, 12, 4), "a1", Decimal("4")),
    ]
    assert usage.title("a1") == "Midjourney Imagine"
    assert usage.title("a2") == "odd"
    assert usage.title("a3") == "a3"  # an empty title is no title


async def test_an_aggregate_entry_without_an_api_still_counts(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get("/usage/apis/aggregate/").respond(
        json={"items": [{"date": "2026-12-04", "amount": 3}]}
    )
    usage = await client.usage_by_api(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL)
    assert [(i.api_id, i.amount) for i in usage.items] == [("unknown", Decimal(3))]


@pytest.mark.parametrize(
    "body",
    [
        {"items": "nope"},
        {"items": [{"date": "2026-12-04", "api_id": "a1", "amount": -1}]},
        {"items": [{"date": "yesterday", "api_id": "a1", "amount": 1}]},
        {"items": [["2026-12-04", 1]]},
    ],
)
async def test_an_unreadable_aggregate_is_refused_whole(
    client: AceDataClient, acedata: respx.MockRouter, body: object
) -> None:
    acedata.get("/usage/apis/aggregate/").respond(json=body)
    with pytest.raises(MalformedResponse):
        await client.usage_by_api(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL)


async def test_failed_calls_count_only_the_failing_status_codes(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get("/usage/apis/status-codes/").respond(json={"items": [200, 400, "429", 500]})
    listed = acedata.get("/usage/apis/").respond(json={"count": 41, "items": [{"id": "r1"}]})
    assert await client.failed_calls(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL) == 41
    params = listed.calls.last.request.url.params
    assert params.get_list("status_code") == ["400", "429", "500"]
    assert params["limit"] == "1"


async def test_no_failing_status_code_means_no_failed_call_and_no_second_read(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get("/usage/apis/status-codes/").respond(json={"items": [200, 201]})
    listed = acedata.get("/usage/apis/")
    assert await client.failed_calls(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL) == 0
    assert not listed.called


async def test_a_failed_call_count_without_a_count_is_malformed(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get("/usage/apis/status-codes/").respond(json={"items": [500]})
    acedata.get("/usage/apis/").respond(json={"items": []})
    with pytest.raises(MalformedResponse):
        await client.failed_calls(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL)


async def test_recent_usage_reads_amounts_and_keys_but_nothing_else(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get("/usage/apis/").respond(
        json={
            "count": 250,
            "items": [
                {
                    "api_id": "a1",
                    "credential": {"id": "k1", "name": "ci-bot", "token": SECRET},
                    "status_code": 200,
                    "deducted_amount": "0.25",
                    "created_at": "2026-12-04T11:59:00Z",
                },
                {"api_id": "a2", "credential_id": "k2", "status_code": 429},
            ],
        }
    )
    records, count = await client.recent_usage(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL)
    assert count == 250
    assert route.calls.last.request.url.params["ordering"] == "-created_at"
    first, second = records
    assert (first.api_id, first.credential_id, first.credential_name) == ("a1", "k1", "ci-bot")
    assert first.amount == Decimal("0.25")
    assert (second.credential_id, second.status_code, second.amount) == ("k2", 429, 0)
    assert SECRET not in repr(records)


async def test_keys_are_read_across_pages_without_their_secrets(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    identity = key("k2", type="Identity", token=None, username="svc-user", password=SECRET)
    route = acedata.get("/credentials/")
    route.side_effect = [
        httpx.Response(200, json={"count": 3, "items": [key("k1"), identity]}),
        httpx.Response(200, json={"count": 3, "items": [key("k3", application_id=OTHER_APP_ID)]}),
    ]
    keys = await client.list_keys(PLATFORM_TOKEN, APP_ID)
    assert [k.id for k in keys] == ["k1", "k2"]  # a key of another application is left out
    assert route.calls.last.request.url.params["application_id"] == APP_ID
    assert SECRET not in repr(keys) and "svc-user" not in repr(keys)
    assert not any(hasattr(k, "token") or hasattr(k, "password") for k in keys)


async def test_a_key_reads_its_state(client: AceDataClient, acedata: respx.MockRouter) -> None:
    past = (UNTIL - timedelta(hours=1)).isoformat()
    acedata.get("/credentials/").respond(
        json={
            "count": 3,
            "items": [
                key("paused", expired_at=past),
                key("capped", used_amount="10", limited_amount="10"),
                key("odd", limited_amount="lots", name=None),
            ],
        }
    )
    paused, capped, odd = await client.list_keys(PLATFORM_TOKEN, APP_ID)
    assert paused.is_paused(UNTIL) and not paused.is_capped_out
    assert capped.is_capped_out and not capped.is_paused(UNTIL)
    assert odd.limited_amount is None and odd.display_name == "key odd"


async def test_a_key_change_is_sent_once_and_read_without_secrets(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.patch("/credentials/k1").respond(json=key("k1", limited_amount="50"))
    changed = await client.update_key(PLATFORM_TOKEN, "k1", {"limited_amount": "50"})
    assert changed is not None and changed.limited_amount == Decimal(50)
    assert json.loads(route.calls.last.request.content) == {"limited_amount": "50"}
    assert SECRET not in repr(changed)


async def test_a_key_change_that_times_out_is_not_retried(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.patch("/credentials/k1").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeout):
        await client.update_key(PLATFORM_TOKEN, "k1", {"expired_at": None})
    assert route.call_count == 1


async def test_a_key_change_answered_without_a_key_asks_for_a_re_read(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.patch("/credentials/k1").respond(json={"ok": True})
    assert await client.update_key(PLATFORM_TOKEN, "k1", {"expired_at": None}) is None


@pytest.mark.parametrize("status", [400, 403, 500])
async def test_an_error_about_a_key_never_repeats_what_ace_data_cloud_said(
    client: AceDataClient, acedata: respx.MockRouter, status: int
) -> None:
    """An error answer about a key could quote its secret, which the bot cannot redact (it never
    holds it): only the status, the trace id and the bot's own words are kept."""
    body = {"error": {"code": SECRET, "message": f"key {SECRET} refused"}, "trace_id": "t-1"}
    acedata.patch("/credentials/k1").respond(status, json=body)
    acedata.get("/credentials/").respond(status, json=body)
    for call in (
        client.update_key(PLATFORM_TOKEN, "k1", {"expired_at": None}),
        client.list_keys(PLATFORM_TOKEN, APP_ID, deadline=0.5),
    ):
        with pytest.raises(AceDataError) as failed:
            await call
        assert SECRET not in str(failed.value) and SECRET not in repr(failed.value.args)
        assert failed.value.status_code == status and failed.value.trace_id == "t-1"


async def test_the_aggregate_of_a_period_that_is_over_is_read_once(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get("/usage/apis/aggregate/").respond(
        json={"items": [{"date": "2026-12-03", "api_id": "a1", "amount": 2}]}
    )
    first = await client.usage_by_api(
        PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL, settled=True
    )
    again = await client.usage_by_api(
        PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL, settled=True
    )
    assert again == first and route.call_count == 1
    await client.usage_by_api(PLATFORM_TOKEN, OTHER_APP_ID, since=SINCE, until=UNTIL, settled=True)
    await client.usage_by_api(PLATFORM_TOKEN, APP_ID, since=SINCE, until=UNTIL)  # still going
    assert route.call_count == 3
