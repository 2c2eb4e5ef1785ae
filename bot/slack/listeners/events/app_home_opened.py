"""The App Home tab, published with views.publish when a user opens it. Bolt acknowledges the
event at once; the reads (database, Ace Data Cloud) come after."""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services import home
from ....services.errors import DatabaseUnavailable
from ....version import version
from ... import blocks
from ...api_errors import slack_error
from ...authz import AdminCheckFailed, is_admin
from ..pipeline import after_ack

logger = logging.getLogger(__name__)

_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    async def home_opened(
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        # Events are acknowledged by Bolt before this runs.
        if event.get("tab") != "home":
            return
        # The team Bolt authorized (authorizations[0]), never the body's own `team_id`.
        team_id, user_id = context.team_id, event.get("user")
        if not (_is_id(team_id) and _is_id(user_id)):
            logger.warning(
                "Ignored an app_home_opened event without a usable team or user (event_id=%s)",
                str(body.get("event_id"))[:40],
            )
            return
        await after_ack(
            runtime,
            context,
            lambda: publish_home(runtime, client, team_id=str(team_id), user_id=str(user_id)),
        )


def _is_id(value: object) -> bool:
    return isinstance(value, str) and _SLACK_ID.fullmatch(value) is not None


async def publish_home(
    runtime: Runtime, client: AsyncWebClient, *, team_id: str, user_id: str
) -> None:
    """Publish `user_id`'s Home for `team_id`: what their role may see, or a sentence saying
    why it cannot be shown. Every failure is logged in one line; none is raised."""
    try:
        view = await _home_view(runtime, client, team_id=team_id, user_id=user_id)
    except DatabaseUnavailable as exc:
        logger.warning("App Home without its data team=%s user=%s: %s", team_id, user_id, exc)
        view = blocks.home_problem_view(blocks.HOME_UNAVAILABLE_DATABASE)
    except Exception:
        logger.exception("App Home failed team=%s user=%s", team_id, user_id)
        view = blocks.home_problem_view(blocks.HOME_UNAVAILABLE)
    try:
        await client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        logger.warning(
            "views.publish failed team=%s user=%s: %s",
            team_id,
            user_id,
            slack_error(exc),
        )
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning(
            "views.publish failed team=%s user=%s: %s", team_id, user_id, type(exc).__name__
        )


async def _home_view(
    runtime: Runtime, client: AsyncWebClient, *, team_id: str, user_id: str
) -> dict[str, Any]:
    try:
        admin = await is_admin(client, runtime.db, team_id=team_id, user_id=user_id)
        role_unknown = False
    except AdminCheckFailed:
        # What every member may see is shown; the admin details wait for Slack.
        admin, role_unknown = False, True
    if not admin:
        members = await home.member_home(runtime.db, team_id=team_id)
        return blocks.member_home_view(members, role_unknown=role_unknown)
    found = await home.admin_home(
        runtime.db,
        runtime.acedata,
        team_id=team_id,
        fallback_token=runtime.fallback_token,
        read_limit=blocks.HOME_READ_LIMIT,
    )
    failed = [reading for reading in found.readings if reading.error is not None]
    if failed:
        first = failed[0]
        logger.warning(
            "App Home: %d of %d aliases unreadable team=%s user=%s (first: %s %s: %s)",
            len(failed),
            len(found.readings),
            team_id,
            user_id,
            first.alias.name,
            type(first.error).__name__,
            first.error,
        )
    return blocks.admin_home_view(found, version=version())
