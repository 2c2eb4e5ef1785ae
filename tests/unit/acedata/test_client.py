"""The Ace Data Cloud client's contract: pages, the global balance, retries, and the one POST."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from aiohttp import web

from bot.acedata import AceDataClient, NotFound, UpstreamError, UpstreamTimeout
from bot.acedata.client import MAX_CONNECTIONS
from tests.support.client import (
    ACEDATA_API,
    APP_ID,
    GLOBAL_APP_ID,
    OTHER_APP_ID,
    PLATFORM_TOKEN,
    application,
)
from tests.support.loopback import serve_on_loopback


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
    apps = [app async for app in client.iter_applications(PLATFORM_TOKEN)]
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


async def test_the_global_balance_is_read_once_per_account_per_interval(
    acedata: respx.MockRouter,
) -> None:
    now, reads = [0.0], [0]

    def balance(request: httpx.Request) -> httpx.Response:
        reads[0] += 1
        item = application(GLOBAL_APP_ID, remaining=reads[0], scope="Global")
        return httpx.Response(200, json={"count": 1, "items": [item]})

    acedata.get("/applications/", params__contains={"scope": "Global"}).side_effect = balance
    async with AceDataClient(
        ACEDATA_API.removesuffix("/api/v1"), balance_ttl=30, clock=lambda: now[0]
    ) as client:
        together = await asyncio.gather(
            *(client.get_global_balance(PLATFORM_TOKEN) for _ in range(20))
        )
        now[0] = 29.0
        cached = await client.get_global_balance(PLATFORM_TOKEN)
        other_account = await client.get_global_balance(PLATFORM_TOKEN + "b")
        now[0] = 31.0
        later = await client.get_global_balance(PLATFORM_TOKEN)

    assert {str(b.remaining_amount) for b in together if b} == {"1"}  # one call, shared
    assert cached is not None and str(cached.remaining_amount) == "1"
    assert other_account is not None and str(other_account.remaining_amount) == "2"
    assert later is not None and str(later.remaining_amount) == "3"
    assert reads == [3]


async def test_a_failed_global_balance_read_is_not_kept(
    client: AceDataClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get("/applications/", params__contains={"scope": "Global"})
    route.side_effect = [
        httpx.Response(400, json={"detail": "bad"}),
        httpx.Response(200, json={"count": 0, "items": []}),
    ]
    with pytest.raises(UpstreamError):
        await client.get_global_balance(PLATFORM_TOKEN)
    assert await client.get_global_balance(PLATFORM_TOKEN) is None


async def test_waiting_for_a_connection_is_not_counted_as_ace_data_cloud_being_slow() -> None:
    """More calls than connections, against a real server: the last ones wait their turn,
    then get their own full deadline, so none is told Ace Data Cloud did not answer in time."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.json_response(application(APP_ID))

    app = web.Application()
    app.router.add_get(f"/api/v1/applications/{APP_ID}", slow)
    runner, port = await serve_on_loopback(app)
    try:
        async with AceDataClient(f"http://127.0.0.1:{port}") as client:
            calls = [
                client.get_application(PLATFORM_TOKEN, APP_ID, deadline=0.5)
                for _ in range(4 * MAX_CONNECTIONS)
            ]
            apps = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await runner.cleanup()

    assert [type(app).__name__ for app in apps] == ["Application"] * (4 * MAX_CONNECTIONS)


async def test_identical_quota_reads_in_flight_share_one_call_unless_told_not_to(
    acedata: respx.MockRouter,
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json=application(APP_ID))

    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = slow
    async with AceDataClient(ACEDATA_API.removesuffix("/api/v1")) as client:
        shared = [client.get_application(PLATFORM_TOKEN, APP_ID, shared=True) for _ in range(10)]
        own = [client.get_application(PLATFORM_TOKEN, APP_ID) for _ in range(2)]
        await asyncio.gather(*shared, *own)
        after = await client.get_application(PLATFORM_TOKEN, APP_ID, shared=True)

    assert after.id == APP_ID
    assert route.call_count == 1 + 2 + 1  # the shared ten, the two own, one more afterwards
