"""The Ace Data Cloud client's contract: pages, the global balance, retries, and the one POST."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from bot.acedata import AceDataClient, NotFound, UpstreamError, UpstreamTimeout

from .client import ACEDATA_API, APP_ID, GLOBAL_APP_ID, OTHER_APP_ID, PLATFORM_TOKEN, application


@pytest.fixture
async def client(acedata: respx.MockRouter) -> AsyncIterator[AceDataClient]:
    async with AceDataClient(ACEDATA_API.removesuffix("/api/v1"), backoff_base=0.01) as client:
        yield client


async def test_list_follows_every_page(client: AceDataClient, acedata: respx.MockRouter) -> None:
    route = acedata.get("/applications/")
    route.side_effect = [
        httpx.Response(
            200, json={"count": 3, "items": [application(APP_ID), application(OTHER_APP_ID)]}
        ),
        httpx.Response(200, json={"count": 3, "results": [application(GLOBAL_APP_ID)]}),
    ]
    apps = await client.list_applications(PLATFORM_TOKEN)
    assert [app.id for app in apps] == [APP_ID, OTHER_APP_ID, GLOBAL_APP_ID]
    offsets = [call.request.url.params["offset"] for call in route.calls]
    assert offsets == ["0", "2"]
    assert route.calls.last.request.url.params["user_id"] == "me"


async def test_global_balance_is_the_global_scope_application(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get("/applications/", params__contains={"scope": "Global", "type": "Usage"}).respond(
        json={"count": 1, "items": [application(GLOBAL_APP_ID, remaining="99.5", scope="Global")]}
    )
    balance = await client.get_global_balance(PLATFORM_TOKEN)
    assert balance is not None and balance.id == GLOBAL_APP_ID
    assert str(balance.remaining_amount) == "99.5"


async def test_account_without_global_balance(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get("/applications/").respond(json={"count": 0, "items": []})
    assert await client.get_global_balance(PLATFORM_TOKEN) is None


async def test_setting_the_fallback_sends_an_explicit_value_once(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.post(f"/applications/{APP_ID}/update-allow-consume-global/").respond(
        json=application(allow=True)
    )
    updated = await client.set_allow_consume_global(PLATFORM_TOKEN, APP_ID, True)
    assert updated.allow_consume_global is True
    request = route.calls.last.request
    assert json.loads(request.content) == {"allow_consume_global": True}
    assert request.headers["content-type"] == "application/json"


async def test_the_post_is_never_retried(client: AceDataClient, acedata: respx.MockRouter) -> None:
    route = acedata.post(f"/applications/{APP_ID}/update-allow-consume-global/").respond(502)
    with pytest.raises(UpstreamError) as raised:
        await client.set_allow_consume_global(PLATFORM_TOKEN, APP_ID, False)
    assert raised.value.status_code == 502
    assert route.call_count == 1


async def test_gets_give_up_after_the_attempts_run_out(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(UpstreamTimeout):
        await client.get_application(PLATFORM_TOKEN, APP_ID)
    assert route.call_count == 3


async def test_errors_carry_the_upstream_message_and_trace_id(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    acedata.get(f"/applications/{APP_ID}").respond(
        404, json={"error": {"code": "not_found", "message": "No such app"}, "trace_id": "t-1"}
    )
    with pytest.raises(NotFound) as raised:
        await client.get_application(PLATFORM_TOKEN, APP_ID)
    assert (raised.value.message, raised.value.code, raised.value.trace_id) == (
        "No such app",
        "not_found",
        "t-1",
    )
    assert PLATFORM_TOKEN not in str(raised.value)
