"""Reads shared across one round of digests or alert checks: an application is read (and its
reading kept) once however many channels show it. Reads are bounded overall and per token (one
Ace Data Cloud account), and a token that is rate-limited is left alone for the rest of the
round. The usage aggregate is read once per application, period and local day in a zone
(a digest's "top" APIs, App Home's top API of the week), through the same limits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date

from ..acedata import AceDataClient, ApiUsage, Application, RateLimited
from ..db.database import Database
from ..db.models import utcnow
from .quota import QuotaSnapshot, global_balance_or_none, with_history
from .usage import Period, PeriodBounds
from .workspaces import platform_token

READ_DEADLINE = 8.0
READ_CONCURRENCY = 8
READS_PER_TOKEN = 4


@dataclass
class Round:
    client: AceDataClient
    db: Database
    reads: dict[tuple[str, str, str], asyncio.Task[QuotaSnapshot]] = field(default_factory=dict)
    balances: dict[str, asyncio.Task[Application | None]] = field(default_factory=dict)
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(READ_CONCURRENCY))
    per_token: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    rate_limited: dict[str, RateLimited] = field(default_factory=dict)
    tokens: dict[str, asyncio.Task[str]] = field(default_factory=dict)
    usages: dict[tuple[str, str, Period, date, str], asyncio.Task[ApiUsage]] = field(
        default_factory=dict
    )
    started: float = field(default_factory=time.monotonic)

    def token(self, team_id: str, fallback: str | None) -> asyncio.Task[str]:
        """The workspace's Ace Data Cloud token (`workspaces.platform_token`), read once per
        round however many of its channels are served."""
        if team_id not in self.tokens:
            self.tokens[team_id] = asyncio.ensure_future(platform_token(self.db, team_id, fallback))
        return self.tokens[team_id]

    def observe(self, team_id: str, token: str, application_id: str) -> asyncio.Task[QuotaSnapshot]:
        """The application's quota with its history and forecast; AceDataError if unreadable."""
        key = (team_id, token, application_id)
        if key not in self.reads:
            self.reads[key] = asyncio.ensure_future(self._observe(team_id, token, application_id))
        return self.reads[key]

    async def _observe(self, team_id: str, token: str, application_id: str) -> QuotaSnapshot:
        token_limit = self.per_token.setdefault(token, asyncio.Semaphore(READS_PER_TOKEN))
        async with token_limit, self.limit:
            if token in self.rate_limited:
                raise self.rate_limited[token]
            try:
                application = await self.client.get_application(
                    token, application_id, deadline=READ_DEADLINE, shared=True
                )
            except RateLimited as exc:
                self.rate_limited[token] = exc
                raise
        snapshot = QuotaSnapshot(application, await self._balance(token), utcnow())
        return await with_history(self.db, team_id, snapshot)

    def _balance(self, token: str) -> asyncio.Task[Application | None]:
        """The account's global balance, read once per token per round (best effort)."""
        if token not in self.balances:
            self.balances[token] = asyncio.ensure_future(
                global_balance_or_none(self.client, token, deadline=READ_DEADLINE)
            )
        return self.balances[token]

    def usage(
        self,
        token: str,
        application_id: str,
        bounds: PeriodBounds,
        *,
        deadline: float = READ_DEADLINE,
    ) -> asyncio.Task[ApiUsage]:
        """The application's usage aggregate over `bounds`, read once per round for its
        (token, application, period, local day, zone); AceDataError if unreadable. The first
        read's `until` stands for the round."""
        key = (token, application_id, bounds.period, bounds.today, bounds.zone.key)
        if key not in self.usages:
            self.usages[key] = asyncio.ensure_future(
                self._usage(token, application_id, bounds, deadline)
            )
        return self.usages[key]

    async def _usage(
        self, token: str, application_id: str, bounds: PeriodBounds, deadline: float
    ) -> ApiUsage:
        token_limit = self.per_token.setdefault(token, asyncio.Semaphore(READS_PER_TOKEN))
        async with token_limit, self.limit:
            if token in self.rate_limited:
                raise self.rate_limited[token]
            # A rate-limited aggregate fails this read only: the quotas are what a round is for.
            return await self.client.usage_by_api(
                token,
                application_id,
                since=bounds.since,
                until=bounds.until,
                zone=bounds.zone.key,
                deadline=deadline,
            )
