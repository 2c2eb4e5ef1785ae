"""Async client for the Ace Data Cloud platform API.

One instance per process wraps one pooled `httpx.AsyncClient`; the platform token is passed
per call because each Slack workspace has its own. Waiting for a free connection is not
counted against a call's deadline: a busy process is not a slow Ace Data Cloud. An account's
global balance is read at most once per `balance_ttl` seconds, and identical reads in flight
share one call (so may application reads that ask to, `shared=True`).

GETs are retried on 429, 5xx, timeouts and connection failures with exponential backoff and
full jitter, inside a total deadline the caller sets. The POST that changes state is never
retried: a retry could repeat a change the first attempt already made, so the caller re-reads
instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Context, Decimal, InvalidOperation, localcontext
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from .. import metrics
from .errors import (
    AceDataError,
    InvalidToken,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from .models import (
    ApiDayAmount,
    ApiKey,
    ApiUsage,
    Application,
    DailyUsage,
    TokenOwner,
    UsageRecord,
)

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

DEFAULT_DEADLINE = 8.0
ATTEMPT_TIMEOUT = 5.0
MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.25
# Connections to Ace Data Cloud at once; more calls wait for one. httpx's pool costs CPU per
# request in proportion to its open connections (measured here: about 1 ms a request at 10,
# 7 ms at 50, 10 ms at 100), so a few well-used connections beat many.
MAX_CONNECTIONS = 20
BALANCE_TTL = 30.0
# How long the aggregate of a period that is over (it cannot change) is kept.
SETTLED_TTL = 86400.0
PAGE_SIZE = 100
MAX_PAGES = 50
# The usage aggregate's shape is not documented: the names its entries are known or likely to
# use for the day and for the amount, in the order they are tried.
USAGE_DAY_FIELDS = ("date", "day", "created_at")
USAGE_AMOUNT_FIELDS = ("amount", "used_amount", "total", "value", "count")
MAX_USAGE_AMOUNT = Decimal("1e30")
# An aggregate entry without an API is still spend: it is counted under this id.
UNKNOWN_API = "unknown"
# A key's secrets: dropped from every answer before anything else reads it.
KEY_SECRETS = frozenset({"token", "username", "password"})
RECENT_RECORDS = 100

Params = dict[str, str] | list[tuple[str, str]]

_TOKEN_PATTERN = re.compile(r"(?i)(platform-v1-|bearer\s+|xox[a-z]-|xapp-)[\w.-]+")
MAX_RETRY_AFTER = 3600.0
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
_STATUS_ERRORS: dict[int, type[AceDataError]] = {
    401: InvalidToken,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
}
_DEFAULT_MESSAGES: dict[type[AceDataError], str] = {
    InvalidToken: "The platform token was rejected",
    PermissionDenied: "The platform token has no permission for this",
    NotFound: "No such application",
    RateLimited: "Too many requests",
    UpstreamError: "Ace Data Cloud answered with an error",
}


class AceDataClient:
    """Ace Data Cloud platform API. Use as an async context manager, or call `aclose()`."""

    def __init__(
        self,
        base_url: str = "https://platform.acedata.cloud",
        *,
        http: httpx.AsyncClient | None = None,
        attempt_timeout: float = ATTEMPT_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = BACKOFF_BASE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        balance_ttl: float = BALANCE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = base_url.rstrip("/") + "/api/v1"
        self._http = http or httpx.AsyncClient(
            headers={"accept": "application/json", "user-agent": "quota-bot"},
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
        )
        # Calls take a connection slot before their clock starts (httpx would count the wait).
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._balance_ttl = balance_ttl
        self._clock = clock
        self._balances: dict[str, tuple[float, Application | None]] = {}
        self._settled: dict[tuple[str, ...], tuple[float, ApiUsage]] = {}
        self._in_flight: dict[str, asyncio.Future[Any]] = {}
        self._attempt_timeout = attempt_timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._noticed: set[str] = set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_application(
        self,
        token: str,
        application_id: str,
        *,
        deadline: float = DEFAULT_DEADLINE,
        shared: bool = False,
    ) -> Application:
        """The application. `shared`: join an identical read already in flight (for showing
        a quota; never for confirming a change, which must read after it)."""
        if not shared:
            return await self._read_application(token, application_id, deadline=deadline)
        return await self._shared(
            f"application:{_token_key(token)}:{application_id}",
            lambda: self._read_application(token, application_id, deadline=deadline),
        )

    async def _read_application(
        self, token: str, application_id: str, *, deadline: float
    ) -> Application:
        data = await self._get(token, f"/applications/{application_id}", deadline=deadline)
        return _parse(Application, data)

    async def set_allow_consume_global(
        self, token: str, application_id: str, allow: bool, *, timeout: float = ATTEMPT_TIMEOUT
    ) -> Application | None:
        """Set the fallback flag to an explicit value. Sent once; never retried.

        Returns the updated application, or None when Ace Data Cloud accepted the change (2xx)
        without answering with an application: the caller re-reads to learn the state.
        """
        path = f"/applications/{application_id}/update-allow-consume-global/"
        response = await self._send(
            "POST", token, path, json={"allow_consume_global": allow}, timeout=timeout
        )
        try:
            return _parse(Application, _json_or_raise(response, token))
        except MalformedResponse:
            logger.warning("The fallback change for %s was accepted without an application", path)
            return None

    async def iter_applications(
        self, token: str, *, deadline: float = DEFAULT_DEADLINE, **filters: str
    ) -> AsyncIterator[Application]:
        """Every application of the token's account, following `limit`/`offset` pages."""
        started = time.monotonic()
        offset = 0
        for _ in range(MAX_PAGES):
            remaining = deadline - (time.monotonic() - started)
            params = {"user_id": "me", "limit": str(PAGE_SIZE), "offset": str(offset), **filters}
            data = await self._get(token, "/applications/", params=params, deadline=remaining)
            if not isinstance(data, dict):
                raise MalformedResponse("The application list was not an object")
            items = data.get("items", data.get("results"))
            if not isinstance(items, list):
                raise MalformedResponse("The application list had no items")
            for item in items:
                yield _parse(Application, item)
            offset += len(items)
            count = data.get("count")
            if not items or (isinstance(count, int) and offset >= count):
                return

    async def get_global_balance(
        self, token: str, *, deadline: float = DEFAULT_DEADLINE
    ) -> Application | None:
        """The account's global balance (the `scope=Global` application), if it has one; as
        read within the last `balance_ttl` seconds, or by a read already in flight."""
        key = _token_key(token)
        cached = self._balances.get(key)
        if cached is not None and self._clock() - cached[0] < self._balance_ttl:
            return cached[1]
        balance = await self._shared(
            f"balance:{key}", lambda: self._read_global_balance(token, deadline=deadline)
        )
        self._balances[key] = (self._clock(), balance)  # a failed read is not kept
        return balance

    async def _shared(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """What `read()` gives, or what an identical read already in flight under `key` gives.
        Shielded: one caller giving up does not cancel the read the others wait for."""
        flight = self._in_flight.get(key)
        if flight is None:
            flight = asyncio.ensure_future(read())
            self._in_flight[key] = flight
            flight.add_done_callback(lambda _: self._in_flight.pop(key, None))
        return await asyncio.shield(flight)

    async def _read_global_balance(self, token: str, *, deadline: float) -> Application | None:
        async for app in self.iter_applications(
            token, deadline=deadline, scope="Global", type="Usage"
        ):
            if app.is_global:
                return app
        return None

    async def get_token_owner(
        self, token: str, *, deadline: float = DEFAULT_DEADLINE
    ) -> TokenOwner:
        """Who owns `token`; the cheap way to check a token before storing it."""
        return _parse(TokenOwner, await self._get(token, "/platform-tokens/me/", deadline=deadline))

    async def daily_usage(
        self,
        token: str,
        application_id: str,
        *,
        since: datetime,
        until: datetime,
        deadline: float = DEFAULT_DEADLINE,
    ) -> list[DailyUsage]:
        """What `application_id` used per day between `since` and `until`, oldest day first,
        from the usage aggregate (`/usage/apis/aggregate/`, UTC days): its APIs added up."""
        usage = await self.usage_by_api(
            token, application_id, since=since, until=until, deadline=deadline
        )
        totals: dict[date, Decimal] = {}
        with localcontext(Context(prec=60)):
            for item in usage.items:
                totals[item.day] = totals.get(item.day, Decimal(0)) + item.amount
        return [DailyUsage(day=day, amount=totals[day]) for day in sorted(totals)]

    async def usage_by_api(
        self,
        token: str,
        application_id: str,
        *,
        since: datetime,
        until: datetime,
        zone: str = "UTC",
        deadline: float = DEFAULT_DEADLINE,
        settled: bool = False,
    ) -> ApiUsage:
        """What `application_id` spent per day and API between `since` and `until`, the days
        in `zone` (an IANA name), from the usage aggregate (`/usage/apis/aggregate/`).

        The aggregate's shape is not documented, so it is read defensively: `{"items": [...]}`,
        `{"results": [...]}` or a bare list; each entry's day in `date`, `day` or `created_at`
        (a date, or a date-time whose own calendar day is taken), its amount in `amount`,
        `used_amount`, `total`, `value` or `count` (a number or a numeric string), its API in
        `api_id` (else `UNKNOWN_API`); an entry naming another application is left out; titles
        from `apis`. Anything else is MalformedResponse, and so is one entry whose day or
        amount cannot be read (a breakdown with holes would show a wrong number).

        `settled`: the period is over, so its answer is kept for `SETTLED_TTL` seconds and
        given to the same read again (a spike check's usual week, read every round)."""
        params = {
            "application_id": application_id,
            "created_at_from": _iso(since),
            "created_at_to": _iso(until),
            "timezone": zone,
        }
        key = (_token_key(token), *params.values())
        kept = self._settled.get(key) if settled else None
        if kept is not None and self._clock() - kept[0] < SETTLED_TTL:
            return kept[1]
        data = await self._get(token, "/usage/apis/aggregate/", params=params, deadline=deadline)
        usage = _api_usage(data, application_id)
        if settled:
            now = self._clock()
            self._settled = {k: v for k, v in self._settled.items() if now - v[0] < SETTLED_TTL}
            self._settled[key] = (now, usage)
        return usage

    async def failed_calls(
        self,
        token: str,
        application_id: str,
        *,
        since: datetime,
        until: datetime,
        deadline: float = DEFAULT_DEADLINE,
    ) -> int:
        """How many of the application's calls between `since` and `until` answered with a
        status code of 400 or more: the status codes seen (`/usage/apis/status-codes/`), then
        the usage list's `count` for the failing ones."""
        started = time.monotonic()
        filters = [
            ("application_id", application_id),
            ("created_at_from", _iso(since)),
            ("created_at_to", _iso(until)),
        ]
        data = await self._get(
            token, "/usage/apis/status-codes/", params=filters, deadline=deadline
        )
        failing = [code for code in _status_codes(data) if code >= 400]
        if not failing:
            return 0
        params = [*filters, *(("status_code", str(code)) for code in failing), ("limit", "1")]
        left = deadline - (time.monotonic() - started)
        listed = await self._get(token, "/usage/apis/", params=params, deadline=left)
        count = listed.get("count") if isinstance(listed, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise MalformedResponse("The usage list had no count")
        return count

    async def recent_usage(
        self,
        token: str,
        application_id: str,
        *,
        since: datetime,
        until: datetime,
        deadline: float = DEFAULT_DEADLINE,
    ) -> tuple[list[UsageRecord], int]:
        """The application's latest calls between `since` and `until` (at most
        `RECENT_RECORDS`, newest first) and how many there were in all."""
        params = {
            "application_id": application_id,
            "created_at_from": _iso(since),
            "created_at_to": _iso(until),
            "ordering": "-created_at",
            "limit": str(RECENT_RECORDS),
        }
        data = await self._get(token, "/usage/apis/", params=params, deadline=deadline)
        items, count = _listing(data, "usage list")
        return [_usage_record(item) for item in items], count

    async def list_keys(
        self, token: str, application_id: str, *, deadline: float = DEFAULT_DEADLINE
    ) -> list[ApiKey]:
        """The application's API keys, their secrets dropped as each answer is read. A key
        naming another application is left out."""
        started = time.monotonic()
        keys: list[ApiKey] = []
        offset = 0
        for _ in range(MAX_PAGES):
            params = {
                "user_id": "me",
                "application_id": application_id,
                "limit": str(PAGE_SIZE),
                "offset": str(offset),
            }
            left = deadline - (time.monotonic() - started)
            data = await self._get(
                token, "/credentials/", params=params, deadline=left, quote=False
            )
            items, count = _listing(data, "key list", secrets=KEY_SECRETS)
            del data  # the answer held the keys' secrets
            keys += [key for key in map(_api_key, items) if _same(key, application_id)]
            offset += len(items)
            if not items or offset >= count:
                break
        return keys

    async def update_key(
        self,
        token: str,
        key_id: str,
        changes: dict[str, str | None],
        *,
        timeout: float = ATTEMPT_TIMEOUT,
    ) -> ApiKey | None:
        """Change a key (`limited_amount`, `expired_at`; None clears). Sent once; never
        retried. The updated key, or None when the answer was not one (re-read to learn)."""
        response = await self._send(
            "PATCH", token, f"/credentials/{key_id}", json=changes, timeout=timeout
        )
        body = _json_or_raise(response, token, quote=False)
        del response
        try:
            return _api_key(_without(body, KEY_SECRETS))
        except MalformedResponse:
            logger.warning("A key change was accepted without a key")
            return None

    def first_notice(self, what: str) -> bool:
        """True only the first time `what` is noticed on this client (one per process): for a
        lasting problem worth one log line, not one on every call."""
        if what in self._noticed:
            return False
        self._noticed.add(what)
        return True

    async def _get(
        self,
        token: str,
        path: str,
        *,
        params: Params | None = None,
        deadline: float,
        quote: bool = True,
    ) -> Any:
        """`quote=False`: an error keeps none of the answer's own words (see `_json_or_raise`)."""
        started = time.monotonic()
        queued = [0.0]  # time spent waiting for a connection slot: not Ace Data Cloud's doing
        last_error: AceDataError | None = None

        def remaining() -> float:
            return deadline - (time.monotonic() - started - queued[0])

        for attempt in range(1, self._max_attempts + 1):
            if remaining() <= 0:
                break
            try:
                response = await self._send(
                    "GET",
                    token,
                    path,
                    params=params,
                    timeout=lambda: min(self._attempt_timeout, remaining()),
                    queued=queued,
                )
                return _json_or_raise(response, token, quote=quote)
            except (RateLimited, UpstreamError, UpstreamTimeout) as exc:
                if isinstance(exc, UpstreamError) and exc.status_code not in _RETRYABLE_STATUS:
                    raise
                last_error = exc
            if attempt < self._max_attempts:
                left = remaining()
                if last_error.retry_after is not None:
                    # Asked to wait: wait that long if the deadline allows, else say so at once.
                    if last_error.retry_after >= left:
                        raise last_error
                    delay = last_error.retry_after
                else:
                    delay = random.uniform(0, self._backoff_base * 2 ** (attempt - 1))
                    if delay >= left:
                        break
                logger.info("Retrying GET %s after %s (attempt %d)", path, last_error, attempt)
                await self._sleep(delay)
        if last_error is None:
            last_error = UpstreamTimeout("Ace Data Cloud did not answer in time")
        raise last_error

    async def _send(
        self,
        method: str,
        token: str,
        path: str,
        *,
        timeout: float | Callable[[], float],
        params: Params | None = None,
        json: dict[str, Any] | None = None,
        queued: list[float] | None = None,
    ) -> httpx.Response:
        """One attempt, timed from when it has a connection slot (`timeout` may be worked out
        then); the wait for the slot is added to `queued`."""
        asked = time.monotonic()
        async with self._slots:
            if queued is not None:
                queued[0] += time.monotonic() - asked
            seconds = timeout() if callable(timeout) else timeout
            endpoint, outcome, began = _endpoint(path), "cancelled", time.monotonic()
            try:
                # httpx's timeout bounds each phase (connect, read, …); asyncio's the whole call.
                async with asyncio.timeout(seconds):
                    response = await self._http.request(
                        method,
                        self._api + path,
                        params=params,
                        json=json,
                        headers={"authorization": f"Bearer {token}"},
                        timeout=seconds,
                    )
                outcome = _outcome(response.status_code)
                return response
            except (httpx.TimeoutException, TimeoutError):
                outcome = "timeout"
                raise UpstreamTimeout("Ace Data Cloud did not answer in time") from None
            except httpx.TransportError as exc:
                outcome = "connection_error"
                raise UpstreamTimeout(
                    f"Could not connect to Ace Data Cloud ({type(exc).__name__})"
                ) from None
            finally:
                metrics.ACEDATA_CALLS.labels(endpoint, outcome).inc()
                metrics.ACEDATA_SECONDS.labels(endpoint).observe(time.monotonic() - began)


# Endpoint families for metrics: a small fixed set, never an ID from the path.
_ENDPOINTS = (
    (re.compile(r"/applications/?"), "applications"),
    (re.compile(r"/applications/[^/]+/update-allow-consume-global/?"), "fallback"),
    (re.compile(r"/applications/[^/]+/?"), "application"),
    (re.compile(r"/usage/apis/aggregate/?"), "aggregate"),
    (re.compile(r"/usage/apis/status-codes/?"), "status-codes"),
    (re.compile(r"/usage/apis/?"), "usage"),
    (re.compile(r"/credentials/?"), "credentials"),
    (re.compile(r"/credentials/[^/]+/?"), "credential"),
    (re.compile(r"/platform-tokens/.*"), "platform-tokens"),
)
_STATUS_OUTCOMES = {
    401: "invalid_token",
    403: "permission_denied",
    404: "not_found",
    429: "rate_limited",
}


def _endpoint(path: str) -> str:
    return next((name for pattern, name in _ENDPOINTS if pattern.fullmatch(path)), "other")


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status >= 500:
        return "server_error"
    return _STATUS_OUTCOMES.get(status, "client_error")


def _token_key(token: str) -> str:
    """What identifies an account in memory without keeping its token there."""
    return hashlib.sha256(token.encode()).hexdigest()


def _redact(text: str, token: str) -> str:
    """Never repeat a token, ours or any other, that an error message may have echoed."""
    if token:
        text = text.replace(token, "[redacted]")
    return _TOKEN_PATTERN.sub("[redacted]", text)


def _json_or_raise(response: httpx.Response, token: str, *, quote: bool = True) -> Any:
    """The answer's JSON, or the AceDataError its status stands for. `quote=False` (answers
    about API keys, whose secrets the bot cannot redact because it never holds them): the
    error's message and code are the bot's own, only the status and trace id are kept."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.is_success:
        if body is None:
            raise MalformedResponse(
                "Ace Data Cloud answered with something that is not JSON",
                status_code=response.status_code,
            )
        return body
    error_class = _STATUS_ERRORS.get(response.status_code, UpstreamError)
    message, code, trace_id = _error_details(body)
    if not quote:
        message, code = None, None
    trace_id = trace_id or _bounded(response.headers.get("x-trace-id"), 100)

    def clean(text: str | None, limit: int) -> str | None:
        # Bounded again after redaction, which can lengthen it: the audit log's columns are too.
        return None if text is None else _bounded(_redact(text, token), limit)

    raise error_class(
        clean(message, 300) or _DEFAULT_MESSAGES[error_class],
        quoted=bool(message),
        status_code=response.status_code,
        code=clean(code, 100),
        trace_id=clean(trace_id, 100),
        retry_after=_retry_after(response) if response.status_code in {429, 503} else None,
    )


def _bounded(text: object, limit: int) -> str | None:
    return str(text)[:limit] if text else None


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, whether sent as a number or as an HTTP date."""
    raw = (response.headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _error_details(body: Any) -> tuple[str | None, str | None, str | None]:
    """Read `{"error": {"code", "message"}, "trace_id"}` or `{"detail": ...}`."""
    if not isinstance(body, dict):
        return None, None, None
    trace_id = body.get("trace_id")
    error = body.get("error")
    if isinstance(error, dict):
        message, code = error.get("message"), error.get("code")
    else:
        message, code = body.get("detail"), None
    return _bounded(message, 300), _bounded(code, 100), _bounded(trace_id, 100)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _api_usage(data: Any, application_id: str) -> ApiUsage:
    """The usage aggregate's answer (see `AceDataClient.usage_by_api`)."""
    items: Any = None
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = data.get("items")
        if items is None:
            items = data.get("results")
    if not isinstance(items, list):
        raise MalformedResponse("The usage aggregate had no list of days")
    wanted = application_id.lower()
    amounts: dict[tuple[date, str], Decimal] = {}
    with localcontext(Context(prec=60)):
        for item in items:
            if not isinstance(item, dict):
                raise MalformedResponse("A usage aggregate entry was not an object")
            owner = item.get("application_id")
            if owner is not None and str(owner).lower() != wanted:
                continue
            day = _usage_field(item, USAGE_DAY_FIELDS, _usage_day, "day")
            amount = _usage_field(item, USAGE_AMOUNT_FIELDS, _usage_amount, "amount")
            api_id = str(item.get("api_id") or UNKNOWN_API)[:100]
            amounts[day, api_id] = amounts.get((day, api_id), Decimal(0)) + amount
    return ApiUsage(
        items=tuple(
            ApiDayAmount(day=day, api_id=api_id, amount=amount)
            for (day, api_id), amount in sorted(amounts.items())
        ),
        titles=_api_titles(data.get("apis") if isinstance(data, dict) else None),
    )


def _api_titles(apis: Any) -> dict[str, str]:
    """`{"<api_id>": {"title": "..."}}` (or a bare title) as titles; anything odd left out."""
    if not isinstance(apis, dict):
        return {}
    titles: dict[str, str] = {}
    for api_id, about in apis.items():
        title = about.get("title") if isinstance(about, dict) else about
        if isinstance(title, str) and title.strip():
            titles[str(api_id)[:100]] = title.strip()[:100]
    return titles


def _status_codes(data: Any) -> list[int]:
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MalformedResponse("The status codes had no list")
    codes: list[int] = []
    for code in items:
        try:
            codes.append(int(str(code)))
        except ValueError:
            raise MalformedResponse("A status code was not a number") from None
    return codes


def _without(item: Any, secrets: frozenset[str]) -> Any:
    return {k: v for k, v in item.items() if k not in secrets} if isinstance(item, dict) else item


def _listing(
    data: Any, what: str, *, secrets: frozenset[str] = frozenset()
) -> tuple[list[Any], int]:
    """A list answer's items (each without `secrets`) and its `count` (the items' number
    when it has none)."""
    items = data.get("items", data.get("results")) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise MalformedResponse(f"The {what} had no items")
    count = data.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < len(items):
        count = len(items)
    return [_without(item, secrets) for item in items], count


def _api_key(item: Any) -> ApiKey:
    return _parse(ApiKey, item)


def _same(key: ApiKey, application_id: str) -> bool:
    return key.application_id is None or key.application_id.lower() == application_id.lower()


def _usage_record(item: Any) -> UsageRecord:
    if not isinstance(item, dict):
        raise MalformedResponse("A usage record was not an object")
    credential = item.get("credential")
    credential = credential if isinstance(credential, dict) else {}
    amount = item.get("deducted_amount", item.get("used_amount"))
    try:
        spent = Decimal(0) if amount is None else _usage_amount(amount)
    except (ValueError, TypeError):
        raise MalformedResponse("A usage record had an unreadable amount") from None
    return _parse(
        UsageRecord,
        {
            "api_id": item.get("api_id"),
            "credential_id": item.get("credential_id") or credential.get("id"),
            "credential_name": credential.get("name"),
            "status_code": item.get("status_code"),
            "amount": spent,
            "created_at": item.get("created_at"),
        },
    )


def _usage_field(
    item: dict[str, Any], names: tuple[str, ...], read: Callable[[Any], Any], what: str
) -> Any:
    """The first of `names` that `item` has, read with `read`; MalformedResponse (naming the
    field, never its value, which could be anything) when absent or unreadable."""
    for name in names:
        value = item.get(name)
        if value is None:
            continue
        try:
            return read(value)
        except (ValueError, TypeError, ArithmeticError):
            raise MalformedResponse(
                f"A usage aggregate entry had an unreadable {what} (field `{name}`)"
            ) from None
    raise MalformedResponse(f"A usage aggregate entry had no {what}")


def _usage_day(value: Any) -> date:
    if not isinstance(value, str):
        raise TypeError("not a string")
    text = value.strip()
    # A day given as a date-time is that date-time's own calendar day: a day bucket written as
    # local midnight must not move to the day before when converted to UTC.
    return datetime.fromisoformat(text).date() if len(text) > 10 else date.fromisoformat(text)


def _usage_amount(value: Any) -> Decimal:
    # bool is an int to Python, not an amount; str() first keeps a float's shortest form.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("not a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_USAGE_AMOUNT:
        raise ValueError("not a usable amount")
    return amount


def _parse(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})
        raise MalformedResponse(
            f"Ace Data Cloud's answer was missing or had invalid fields: {', '.join(fields)}"
        ) from None
