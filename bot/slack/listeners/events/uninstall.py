"""Events about the app itself: uninstalled, or its tokens revoked. The workspace's secrets are
deleted at once and its schedules paused; its setup stays for a re-install (`services.installs`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from ....runtime import Runtime
from ....services import installs
from ....services.errors import DatabaseUnavailable
from ..pipeline import after_ack

logger = logging.getLogger(__name__)

# Bolt acknowledges events before the listener runs, so Slack will not send this one again:
# a database outage is waited out here instead (about a minute with the default backoff).
ATTEMPTS = 8


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_uninstalled")
    async def uninstalled(context: AsyncBoltContext, body: dict[str, Any]) -> None:
        await after_ack(
            runtime, context, lambda: _forget(runtime, context, body, "app_uninstalled")
        )

    @app.event("tokens_revoked")
    async def tokens_revoked(context: AsyncBoltContext, body: dict[str, Any]) -> None:
        await after_ack(runtime, context, lambda: _revoked(runtime, context, body))


async def _revoked(runtime: Runtime, context: AsyncBoltContext, body: dict[str, Any]) -> None:
    event = body.get("event")
    tokens = event.get("tokens") if isinstance(event, dict) else None
    bots = tokens.get("bot") if isinstance(tokens, dict) else None
    if not bots:  # user tokens only: the bot asks for none, so it holds none
        logger.info("tokens_revoked without bot tokens (team=%s): nothing held", context.team_id)
        return
    await _forget(runtime, context, body, "tokens_revoked")


def _event_time(body: dict[str, Any]) -> datetime | None:
    """When Slack says the event happened; None when it does not say (then it is acted on)."""
    value = body.get("event_time")
    if isinstance(value, int) and 0 < value < 2**33:
        return datetime.fromtimestamp(value, UTC)
    return None


async def _forget(
    runtime: Runtime, context: AsyncBoltContext, body: dict[str, Any], reason: str
) -> None:
    org_wide = bool(context.is_enterprise_install)
    where = f"team={context.team_id} enterprise={context.enterprise_id}"
    for attempt in range(ATTEMPTS):
        try:
            teams = await installs.uninstalled(
                runtime.db,
                team_id=context.team_id,
                enterprise_id=context.enterprise_id,
                org_wide=org_wide,
                reason=reason,
                event_time=_event_time(body),
            )
            break
        except DatabaseUnavailable as exc:
            if attempt == ATTEMPTS - 1:
                logger.error("%s (%s) NOT processed, secrets still stored: %s", reason, where, exc)
                return
            logger.warning("%s (%s) waits for the database: %s", reason, where, exc)
            await asyncio.sleep(runtime.settings.retry_backoff_seconds * 2**attempt)
    logger.info(
        "%s (%s): Slack and Ace Data Cloud tokens deleted, schedules paused for %d workspace(s)",
        reason,
        where,
        len(teams),
    )
