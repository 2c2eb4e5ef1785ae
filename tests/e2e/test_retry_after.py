"""A 429's Retry-After is honoured within the call's deadline: waited for when it fits, said
to the user at once when it does not, and never answered with pointless retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import httpx
import pytest
import respx

from bot.acedata import AceDataClient, RateLimited
from bot.acedata import client as client_module
from tests.support.client import ACEDATA_API, APP_ID, MEMBER, PLATFORM_TOKEN, BotClient, application

BACKOFF_BASE = 0.25


class FakeClock:
    """Sleeps that take no time but move the client's clock, so deadlines still apply."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.offset += delay


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    # Only the client module's view of `time`: the event loop keeps the real clock.
    monkeypatch.setattr(client_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
async def client(acedata: respx.MockRouter, clock: FakeClock) -> AsyncIterator[AceDataClient]:
    async with AceDataClient(
        ACEDATA_API.removesuffix("/api/v1"), backoff_base=BACKOFF_BASE, sleep=clock.sleep
    ) as client:
        yield client


def too_many(retry_after: str | None = None) -> httpx.Response:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return httpx.Response(429, json={"detail": "Request was throttled."}, headers=headers)


OK = httpx.Response(200, json=application())


async def test_a_wait_longer_than_the_deadline_is_said_at_once(
    client: AceDataClient, acedata: respx.MockRouter, clock: FakeClock
) -> None:
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [too_many("30"), OK, OK]

    with pytest.raises(RateLimited) as raised:
        await client.get_application(PLATFORM_TOKEN, APP_ID)  # the default 8 s deadline

    assert raised.value.retry_after == 30
    assert raised.value.status_code == 429
    assert route.call_count == 1
    assert clock.delays == []


async def test_a_short_wait_is_waited_for_then_retried(
    client: AceDataClient, acedata: respx.MockRouter, clock: FakeClock
) -> None:
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [too_many("1"), OK]

    app = await client.get_application(PLATFORM_TOKEN, APP_ID)

    assert app.id == APP_ID
    assert clock.delays == [1.0]
    assert route.call_count == 2


async def test_retry_after_as_an_http_date(
    client: AceDataClient, acedata: respx.MockRouter, clock: FakeClock
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [too_many(when), OK]

    await client.get_application(PLATFORM_TOKEN, APP_ID)

    # An HTTP date has whole seconds: "2 s from now" is between 1 and 2 s away.
    (delay,) = clock.delays
    assert 0.9 <= delay <= 2.0, delay
    assert route.call_count == 2


async def test_retry_after_in_the_past_retries_at_once(
    client: AceDataClient, acedata: respx.MockRouter, clock: FakeClock
) -> None:
    when = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [too_many(when), OK]

    await client.get_application(PLATFORM_TOKEN, APP_ID)

    assert clock.delays == [0.0]
    assert route.call_count == 2


async def test_waits_add_up_within_the_deadline(
    client: AceDataClient, acedata: respx.MockRouter, clock: FakeClock
) -> None:
    """5 s fits in 8 s; a second 5 s does not fit in the 3 s left, so that one is said."""
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [too_many("5"), too_many("5"), OK]

    with pytest.raises(RateLimited) as raised:
        await client.get_application(PLATFORM_TOKEN, APP_ID, deadline=8)

    assert clock.delays == [5.0]
    assert route.call_count == 2
    assert raised.value.retry_after == 5


@pytest.mark.parametrize("max_attempts", [3, 5])
@pytest.mark.parametrize("retry_after", [None, "soon", "", "NaN"], ids=repr)
async def test_without_a_usable_retry_after_backs_off_with_jitter(
    acedata: respx.MockRouter, clock: FakeClock, max_attempts: int, retry_after: str | None
) -> None:
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = [too_many(retry_after) for _ in range(max_attempts + 2)]
    async with AceDataClient(
        ACEDATA_API.removesuffix("/api/v1"),
        backoff_base=BACKOFF_BASE,
        max_attempts=max_attempts,
        sleep=clock.sleep,
    ) as client:
        with pytest.raises(RateLimited) as raised:
            await client.get_application(PLATFORM_TOKEN, APP_ID, deadline=60)

    assert raised.value.retry_after is None
    assert route.call_count == max_attempts
    assert len(clock.delays) == max_attempts - 1
    for n, delay in enumerate(clock.delays):
        assert 0 <= delay <= BACKOFF_BASE * 2**n, clock.delays


async def test_jittered_backoff_varies(acedata: respx.MockRouter, clock: FakeClock) -> None:
    """Full jitter: many clients retrying together do not all wait the same time."""
    route = acedata.get(f"/applications/{APP_ID}")
    route.side_effect = lambda request: too_many()
    async with AceDataClient(
        ACEDATA_API.removesuffix("/api/v1"), backoff_base=1.0, max_attempts=2, sleep=clock.sleep
    ) as client:
        for _ in range(20):
            with pytest.raises(RateLimited):
                await client.get_application(PLATFORM_TOKEN, APP_ID, deadline=60)
    assert len(clock.delays) == 20
    assert len(set(clock.delays)) > 1
    assert all(0 <= delay <= 1.0 for delay in clock.delays)


async def test_member_is_told_when_to_try_again_after_one_request(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    route = acedata.get(f"/applications/{APP_ID}")
    route.mock(return_value=too_many("30"))
    route.reset()

    started = time.monotonic()
    reply = await linked.quota("prod", user=MEMBER)

    assert reply.response_type == "ephemeral"
    assert "try again in 30 s" in reply.text
    assert "blocks" not in reply.body or len(reply.body["blocks"]) <= 1
    sentence = reply.text.strip()
    assert sentence.count("\n") == 0, sentence
    assert "Traceback" not in sentence
    assert route.call_count == 1
    assert time.monotonic() - started < 5  # said at once, not after waiting or retrying
