"""The quota card's buttons: switch the global fallback (admins), and refresh (anyone).

Button values are never trusted: the target is re-checked against the acting user's
workspace and channel, and the user's rights are checked again, before anything is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..acedata import AceDataError
from ..runtime import Runtime
from ..services import audit
from ..services.aliases import check_card_target, is_linked_in_workspace
from ..services.errors import (
    AliasNotFound,
    ApplicationNotLinked,
    NoTokenConfigured,
    TargetMoved,
)
from ..services.fallback import ACTION as FALLBACK_ACTION
from ..services.fallback import (
    FallbackRequest,
    FallbackResult,
    record_attempt,
    set_global_fallback,
)
from ..services.locks import LockBusy
from ..services.quota import QuotaSnapshot, read_quota
from . import blocks, card_values
from .authz import NotAdmin
from .card_values import CardTarget, InvalidButtonValue, Origin
from .context import InteractionContext

logger = logging.getLogger(__name__)

DEADLINE = 8.0


@dataclass(frozen=True)
class CardContext(InteractionContext):
    """A button press on a quota card: the card's message, and how to update it."""

    message_ts: str | None
    is_ephemeral: bool
    origin: Origin
    value: str | None

    @classmethod
    def from_body(
        cls, body: dict[str, Any], runtime: Runtime, client: AsyncWebClient, respond: AsyncRespond
    ) -> CardContext:
        container = body.get("container") or {}
        channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id")
        action = (body.get("actions") or [{}])[0]
        if not channel_id:
            raise InvalidButtonValue("no channel")
        return cls(
            runtime=runtime,
            client=client,
            respond=respond,
            team_id=body["team"]["id"],
            user_id=body["user"]["id"],
            channel_id=channel_id,
            message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts"),
            is_ephemeral=bool(container.get("is_ephemeral")),
            origin=card_values.origin_of(action.get("block_id")),
            value=action.get("value"),
        )

    async def say_privately(self, text: str) -> None:
        await self.respond(text=text, response_type="ephemeral", replace_original=False)

    async def update_card(
        self, snapshot: QuotaSnapshot, alias: str | None, *, toggleable: bool = True
    ) -> str | None:
        """Replace the card in place; the reason it could not be, or None when it was."""
        card = blocks.quota_card(snapshot, alias, origin=self.origin, toggleable=toggleable)
        text = blocks.quota_card_text(snapshot, alias)
        try:
            if self.origin == "message" and self.message_ts and not self.is_ephemeral:
                await self.client.chat_update(
                    channel=self.channel_id, ts=self.message_ts, text=text, blocks=card
                )
                return None
            response = await self.respond(
                text=text, blocks=card, response_type="in_channel", replace_original=True
            )
        except SlackApiError as exc:
            return str(exc.response.get("error"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    async def reply_in_thread(self, text: str) -> None:
        if not self.message_ts or self.is_ephemeral:
            return
        try:
            await self.client.chat_postMessage(
                channel=self.channel_id, thread_ts=self.message_ts, text=text
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            logger.warning("Thread reply failed team=%s: %s", self.team_id, error)
            await self.say_privately(
                f"The change was made, but the note under the card could not be posted "
                f"(Slack said `{error}`; is the bot a member of this channel?)."
            )


def register(app: AsyncApp, runtime: Runtime) -> None:
    def listener(
        work: Callable[[CardContext], Awaitable[None]],
    ) -> Callable[..., Awaitable[None]]:
        async def handle(
            ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
        ) -> None:
            await ack()
            await run_card_action(body, runtime, client, respond, work)

        return handle

    app.action(re.compile(rf"^{card_values.TOGGLE_ACTION}(:\w+)?$"))(listener(toggle_fallback))
    app.action(card_values.REFRESH_ACTION)(listener(refresh_card))


async def run_card_action(
    body: dict[str, Any],
    runtime: Runtime,
    client: AsyncWebClient,
    respond: AsyncRespond,
    work: Callable[[CardContext], Awaitable[None]],
) -> None:
    """Run one button's work, turning every expected failure into a private sentence."""
    team_id = (body.get("team") or {}).get("id")
    user_id = (body.get("user") or {}).get("id")
    try:
        context = CardContext.from_body(body, runtime, client, respond)
        await work(context)
    except InvalidButtonValue as exc:
        logger.warning("Invalid card button team=%s user=%s: %s", team_id, user_id, exc)
        await respond(text=blocks.INVALID_BUTTON, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        text = _expected_failure_text(exc)
        if text is None:
            logger.exception("Card action failed team=%s user=%s", team_id, user_id)
            text = blocks.INTERNAL_ERROR
        await respond(text=text, response_type="ephemeral", replace_original=False)


def _expected_failure_text(exc: Exception) -> str | None:
    match exc:
        case NotAdmin():
            return blocks.not_admin(exc.action)
        case AliasNotFound():
            return blocks.card_alias_gone(exc.name)
        case TargetMoved():
            return blocks.target_moved(exc.alias)
        case ApplicationNotLinked():
            return blocks.application_not_linked(exc.application_id)
        case NoTokenConfigured():
            return blocks.NO_TOKEN
    return None


async def _check_target(context: CardContext, target: CardTarget) -> None:
    async with context.runtime.sessions() as session:
        await check_card_target(
            session,
            team_id=context.team_id,
            channel_id=context.channel_id,
            alias=target.alias,
            application_id=target.application_id,
        )


async def toggle_fallback(context: CardContext) -> None:
    request, token = await _authorized_fallback_request(context)
    try:
        result = await set_global_fallback(
            context.runtime.acedata, context.runtime.sessions, token, request, deadline=DEADLINE
        )
    except LockBusy:
        await context.say_privately(blocks.fallback_busy(request.alias, request.application_id))
        return
    await _report_fallback_result(context, request, result)


async def _authorized_fallback_request(context: CardContext) -> tuple[FallbackRequest, str]:
    """The change the button asks for, once it is known to be allowed, and the token to make it
    with. Every refusal is audited before it is raised."""
    sessions = context.runtime.sessions
    try:
        target = card_values.decode_toggle(context.value)
    except InvalidButtonValue:
        async with sessions() as session, session.begin():
            await audit.record(
                session,
                team_id=context.team_id,
                user_id=context.user_id,
                action=FALLBACK_ACTION,
                outcome="refused",
                detail="unreadable button value",
            )
        raise
    request = FallbackRequest(
        team_id=context.team_id,
        user_id=context.user_id,
        alias=target.alias,
        application_id=target.application_id,
        enable=target.enable,
    )
    try:
        await context.require_admin("switch the global fallback")
        await _check_target(context, target)
    except (NotAdmin, AliasNotFound, TargetMoved, ApplicationNotLinked) as exc:
        await record_attempt(sessions, request, outcome="refused", detail=type(exc).__name__)
        raise
    try:
        return request, await context.token()
    except NoTokenConfigured:
        await record_attempt(sessions, request, outcome="failed", detail="no token")
        raise


async def _report_fallback_result(
    context: CardContext, request: FallbackRequest, result: FallbackResult
) -> None:
    alias, application_id = request.alias, request.application_id
    if result.error is not None:
        await context.say_privately(
            blocks.fallback_failed(result.error, alias, application_id, uncertain=result.uncertain)
        )
        return
    assert result.snapshot is not None, "a result without an error carries the card's data"
    card_problem = await context.update_card(result.snapshot, alias)
    if card_problem is not None:
        logger.warning("Card update failed team=%s: %s", context.team_id, card_problem)
        await context.say_privately(
            blocks.card_not_updated(alias, application_id, result.after, card_problem)
        )
    match result.outcome:
        case "changed":
            await context.reply_in_thread(
                blocks.fallback_changed_note(
                    context.user_id, alias, application_id, result.before, result.after
                )
            )
        case "unchanged":
            await context.say_privately(
                blocks.fallback_already(alias, application_id, result.after)
            )
        case _:
            await context.say_privately(
                blocks.fallback_mismatch(alias, application_id, request.enable, result.after)
            )


async def refresh_card(context: CardContext) -> None:
    target = card_values.decode_target(context.value)
    toggleable = True
    if target.alias is None:
        async with context.runtime.sessions() as session:
            toggleable = await is_linked_in_workspace(
                session, team_id=context.team_id, application_id=target.application_id
            )
        if not toggleable:
            await context.require_admin("refresh a card of an application without an alias")
    else:
        await _check_target(context, target)
    token = await context.token()
    try:
        snapshot = await read_quota(
            context.runtime.acedata, token, target.application_id, deadline=DEADLINE
        )
    except AceDataError as exc:
        logger.warning("Refresh failed team=%s: %s", context.team_id, exc)
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=target.application_id, alias=target.alias)
        )
        return
    card_problem = await context.update_card(snapshot, target.alias, toggleable=toggleable)
    if card_problem is not None:
        logger.warning("Card refresh failed team=%s: %s", context.team_id, card_problem)
        await context.say_privately(
            blocks.card_not_updated(
                target.alias,
                target.application_id,
                snapshot.application.allow_consume_global,
                card_problem,
            )
        )
