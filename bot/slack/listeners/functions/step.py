"""What every Workflow Builder step works with: the workspace Bolt authorized, the person the
workflow runs as (its `user_id` input, checked to be a member of that workspace, with the
admin rules of buttons), its inputs read without trusting them, and how it ends —
`functions.completeSuccess` with outputs, or `functions.completeError` with one sentence.

Bolt acknowledges `function_executed` at once; the work runs after, tracked like any other,
and never raises: each failure is one log line and one sentence."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services.aliases import LinkedAlias, normalize_alias, resolve
from ....services.errors import ServiceError
from ....services.quota import QuotaSnapshot, observe_quota
from ....services.workspaces import platform_token
from ...api_errors import slack_error
from ...authz import require_admin
from ...blocks import steps as step_blocks
from ..pipeline import after_ack

logger = logging.getLogger(__name__)

READ_DEADLINE = 8.0
_USER = re.compile(r"[UW][A-Z0-9]{2,31}")
_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,31}")


class StepFailed(Exception):
    """The step cannot go on: `sentence` says why (for the workflow's activity)."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


@dataclass(frozen=True, kw_only=True)
class Step:
    runtime: Runtime
    client: AsyncWebClient  # with the function's own token (Bolt attaches it)
    team_id: str  # the workspace Bolt authorized
    execution_id: str
    inputs: dict[str, Any]
    complete: AsyncComplete
    fail: AsyncFail
    function_token: str | None = field(repr=False)

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.inputs.get(name)
        if value is None or value == "":
            if required:
                raise StepFailed(step_blocks.missing_input(name))
            return None
        if not isinstance(value, str) or len(value) > 200:
            raise StepFailed(step_blocks.bad_input(name))
        return value.strip()

    def flag(self, name: str) -> bool:
        value = self.inputs.get(name)
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise StepFailed(
            step_blocks.missing_input(name) if value is None else step_blocks.bad_input(name)
        )

    def channel(self, *, required: bool) -> str | None:
        value = self.text("channel_id", required=required)
        if value is not None and not _CHANNEL.fullmatch(value):
            raise StepFailed(step_blocks.bad_input("channel_id"))
        return value

    def alias_name(self) -> str:
        raw = self.text("alias")
        assert raw is not None
        try:
            return normalize_alias(raw)
        except ServiceError:
            raise StepFailed(step_blocks.bad_input("alias")) from None

    async def user(self) -> str:
        """The person the workflow runs as, once Slack says they are a member here."""
        user_id = self.text("user_id")
        assert user_id is not None
        if not _USER.fullmatch(user_id):
            raise StepFailed(step_blocks.bad_input("user_id"))
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            if slack_error(exc) == "user_not_found":
                raise StepFailed(step_blocks.NOT_A_MEMBER) from None
            raise StepFailed(step_blocks.SLACK_UNREACHABLE) from None
        except (aiohttp.ClientError, TimeoutError):
            raise StepFailed(step_blocks.SLACK_UNREACHABLE) from None
        found = response.get("user") or {}
        team = found.get("team_id") if isinstance(found, dict) else None
        if not isinstance(found, dict) or found.get("deleted") or (team and team != self.team_id):
            raise StepFailed(step_blocks.NOT_A_MEMBER)
        return user_id

    async def require_admin(self, user_id: str, action: str) -> None:
        await require_admin(
            self.client, self.runtime.db, team_id=self.team_id, user_id=user_id, action=action
        )

    async def alias(self, channel_id: str | None) -> LinkedAlias:
        return await resolve(
            self.runtime.db, team_id=self.team_id, channel_id=channel_id, name=self.alias_name()
        )

    async def quota(self, alias: LinkedAlias) -> QuotaSnapshot:
        """The alias's quota, read now with the workspace's token (and kept in its history)."""
        return await observe_quota(
            self.runtime.acedata,
            self.runtime.db,
            await self.token(),
            team_id=self.team_id,
            application_id=alias.application_id,
            deadline=READ_DEADLINE,
        )

    async def token(self) -> str:
        return await platform_token(self.runtime.db, self.team_id, self.runtime.fallback_token)

    def log_context(self) -> str:
        return f"team={self.team_id} execution={self.execution_id}"


Work = Callable[[Step], Awaitable[None]]


def register_step(app: AsyncApp, runtime: Runtime, callback_id: str, work: Work) -> None:
    """`work` as the step `callback_id`: run after the ack; every failure completes the step
    with its sentence."""

    @app.function(callback_id)
    async def run_step(
        inputs: dict[str, Any],
        complete: AsyncComplete,
        fail: AsyncFail,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        step = Step(
            runtime=runtime,
            client=client,
            team_id=str(context.team_id),
            execution_id=str(context.function_execution_id or ""),
            inputs=inputs if isinstance(inputs, dict) else {},
            complete=complete,
            fail=fail,
            function_token=context.function_bot_access_token,
        )
        await after_ack(runtime, context, lambda: _run(step, work, callback_id))


async def _run(step: Step, work: Work, callback_id: str) -> None:
    try:
        await work(step)
        return
    except StepFailed as exc:
        sentence = exc.sentence
        logger.info("Step %s failed %s: %s", callback_id, step.log_context(), sentence)
    except Exception as exc:
        found = step_blocks.step_failure(exc)
        if found is None:
            logger.exception("Step %s failed %s", callback_id, step.log_context())
        else:
            logger.info(
                "Step %s failed %s: %s", callback_id, step.log_context(), type(exc).__name__
            )
        sentence = found or step_blocks.INTERNAL
    try:
        await step.fail(sentence)
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        reason = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        logger.warning("functions.completeError refused %s: %s", step.log_context(), reason)
