"""Ace Data Cloud's usage by API as the tests mock it: the per-API aggregate
(`/usage/apis/aggregate/`), and the failed calls (`/usage/apis/status-codes/`, then the usage
list's `count`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import respx

from .client import APP_ID

AGGREGATE = "/usage/apis/aggregate/"
STATUS_CODES = "/usage/apis/status-codes/"
USAGE_LIST = "/usage/apis/"

# Titles as Ace Data Cloud names its APIs; an API missing here is shown by its id.
TITLES = {
    "mj-imagine": "Midjourney Imagine",
    "mj-describe": "Midjourney Describe",
    "mj-blend": "Midjourney Blend",
    "mj-upscale": "Midjourney Upscale",
    "mj-video": "Midjourney Video",
}


def local_today(zone: str = "UTC") -> date:
    return datetime.now(ZoneInfo(zone)).date()


def aggregate_body(
    rows: list[tuple[int, str, Any]],
    *,
    zone: str = "UTC",
    titles: dict[str, str] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """The aggregate's answer: `rows` as (days before `today`, by default today in `zone`, api
    id, amount)."""
    today = today or local_today(zone)
    items = [
        {"date": (today - timedelta(days=back)).isoformat(), "api_id": api, "amount": amount}
        for back, api, amount in rows
    ]
    total = sum(float(amount) for _, _, amount in rows)
    apis = {api: {"title": title} for api, title in (TITLES if titles is None else titles).items()}
    return {"total": total, "items": items, "apis": apis}


def aggregate_route(acedata: respx.MockRouter, app_id: str = APP_ID) -> respx.Route:
    return acedata.get(AGGREGATE, params__contains={"application_id": app_id})


def mock_usage(
    acedata: respx.MockRouter,
    rows: list[tuple[int, str, Any]],
    *,
    app_id: str = APP_ID,
    zone: str = "UTC",
    titles: dict[str, str] | None = None,
    today: date | None = None,
) -> respx.Route:
    """The application's aggregate answering with `rows` (see `aggregate_body`)."""
    return aggregate_route(acedata, app_id).respond(
        json=aggregate_body(rows, zone=zone, titles=titles, today=today)
    )


def mock_failed_calls(acedata: respx.MockRouter, count: int) -> respx.Route:
    """Calls answered 429 and 500 among 200s; `count` of them in the period."""
    acedata.get(STATUS_CODES).respond(json={"items": [200, 429, 500]})
    return acedata.get(USAGE_LIST).respond(json={"count": count, "items": []})


def asked(route: respx.Route, name: str) -> list[str]:
    """The value of query parameter `name` in each request `route` received."""
    return [call.request.url.params.get(name) for call in route.calls]
