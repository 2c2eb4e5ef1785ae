"""Composing a channel's digest from its aliases and posting it; the worker and `/quota digest
now` share this. One upstream read per distinct application and token per round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..acedata import AceDataError, Application, RateLimited
from ..db.database import DatabaseUnavailable
from ..db.models import utcnow
from ..runtime import Runtime
from ..services import aliases, history
from ..services.errors import NoTokenConfigured
from ..services.quota import QuotaSnapshot, global_balance_or_none, with_history
from ..services.workspaces import platform_token
from . import blocks
from .blocks.digest import DigestLine, DigestMessage, digest_messages
from .context import common_failure_text

logger = logging.getLogger(__name__)

READ_DEADLINE = 8.0
READ_CONCURRENCY = 8
READS_PER_TOKEN = 4


@dataclass
class Round:
    """The reads of one round of digests or alert checks, shared so an application is read (and
    its reading kept) once however many channels show it. Reads are bounded overall and per
    token (one Ace Data Cloud account), and a token that is rate-limited is left alone for the
    rest of the round."""

    reads: dict[tuple[str, str, str], asyncio.Task[QuotaSnapshot]] = field(default_factory=dict)
    balances: dict[str, asyncio.Task[Application | None]] = field(default_factory=dict)
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(READ_CONCURRENCY))
    per_token: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    rate_limited: dict[str, RateLimited] = field(default_factory=dict)

    def observe(
        self, runtime: Runtime, team_id: str, token: str, application_id: str
    ) -> asyncio.Task[QuotaSnapshot]:
        key = (team_id, token, application_id)
        if key not in self.reads:
            self.reads[key] = asyncio.ensure_future(
                self._observe(runtime, team_id, token, application_id)
            )
        return self.reads[key]

    async def _observe(
        self, runtime: Runtime, team_id: str, token: str, application_id: str
    ) -> QuotaSnapshot:
        token_limit = self.per_token.setdefault(token, asyncio.Semaphore(READS_PER_TOKEN))
        async with token_limit, self.limit:
            if token in self.rate_limited:
                raise self.rate_limited[token]
            try:
                application = await runtime.acedata.get_application(
                    token, application_id, deadline=READ_DEADLINE
                )
            except RateLimited as exc:
                self.rate_limited[token] = exc
                raise
        snapshot = QuotaSnapshot(application, await self._balance(runtime, token), utcnow())
        return await with_history(runtime.db, team_id, snapshot)

    def _balance(self, runtime: Runtime, token: str) -> asyncio.Task[Application | None]:
        """The account's global balance, read once per token per round (best effort)."""
        if token not in self.balances:
            self.balances[token] = asyncio.ensure_future(
                global_balance_or_none(runtime.acedata, token, deadline=READ_DEADLINE)
            )
        return self.balances[token]


async def compose(
    runtime: Runtime,
    *,
    team_id: str,
    channel_id: str,
    title: str,
    zone: ZoneInfo,
    now: datetime,
    late_slot: datetime | None = None,
    since: datetime | None = None,
    round_: Round | None = None,
) -> list[DigestMessage]:
    """The digest of every alias visible in the channel, as messages to post."""
    round_ = round_ or Round()
    linked = await aliases.visible_aliases(runtime.db, team_id=team_id, channel_id=channel_id)
    try:
        token: str | None = await platform_token(runtime.db, team_id, runtime.fallback_token)
        missing = None
    except NoTokenConfigured as exc:
        token, missing = None, common_failure_text(exc)

    async def line(alias: aliases.LinkedAlias) -> DigestLine:
        if token is None:
            return DigestLine(alias.name, alias.application_id, None, missing, None, None)
        try:
            snapshot = await round_.observe(runtime, team_id, token, alias.application_id)
        except AceDataError as exc:
            problem = blocks.upstream_problem(
                exc, application_id=alias.application_id, alias=alias.name
            )
            return DigestLine(alias.name, alias.application_id, None, problem, None, None)
        change = None
        if since is not None:
            with_change = await _remaining_at(runtime, team_id, alias.application_id, since)
            if with_change is not None and snapshot.application.remaining_amount.is_finite():
                change = snapshot.application.remaining_amount - with_change
        return DigestLine(
            alias.name, alias.application_id, snapshot, None, change, snapshot.forecast
        )

    lines = await asyncio.gather(*(line(alias) for alias in linked))
    global_balance = _any_global_balance(lines)
    return digest_messages(
        lines,
        title=title,
        now=now,
        zone=zone,
        late_slot=late_slot,
        global_balance=global_balance,
    )


async def _remaining_at(
    runtime: Runtime, team_id: str, application_id: str, at: datetime
) -> Decimal | None:
    try:
        return await history.remaining_at(
            runtime.db, team_id=team_id, application_id=application_id, at=at
        )
    except DatabaseUnavailable:
        return None


def _any_global_balance(lines: list[DigestLine]) -> Application | None:
    for line in lines:
        if line.snapshot is not None and line.snapshot.global_balance is not None:
            return line.snapshot.global_balance
    return None


async def post(
    client: AsyncWebClient,
    channel_id: str,
    messages: list[DigestMessage],
    *,
    posted: Callable[[str], Awaitable[None]] | None = None,
) -> tuple[str | None, str | None]:
    """Post the digest (the rest in its thread): the first message's ts once it is posted, and
    Slack's error if any part was refused. `posted` hears of the first message at once."""
    ts: str | None = None
    try:
        first = await client.chat_postMessage(
            channel=channel_id, text=messages[0].text, blocks=messages[0].blocks
        )
        ts = str(first["ts"])
        if posted is not None:
            await posted(ts)
        for message in messages[1:]:
            await client.chat_postMessage(
                channel=channel_id, thread_ts=ts, text=message.text, blocks=message.blocks
            )
    except SlackApiError as exc:
        return ts, str(exc.response.get("error"))[:64]
    except (aiohttp.ClientError, TimeoutError) as exc:
        return ts, type(exc).__name__[:64]
    return ts, None
