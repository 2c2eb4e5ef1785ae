"""The quota card's buttons: switch the global fallback (admins), and refresh (anyone who could
see the card with `/quota` in that channel).

Button values are never trusted: the target is re-checked against the acting user's
workspace and channel, and the user's rights are checked again, before anything is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ....acedata import AceDataError
from ....runtime import Runtime
from ....services.aliases import check_card_target, is_linked_in_workspace, is_visible_in_channel
from ....services.errors import AliasNotFound, ApplicationNotLinked, NoTokenConfigured, TargetMoved
from ....services.fallback import (
    FallbackRequest,
    FallbackResult,
    record_attempt,
    record_unreadable_button,
    set_global_fallback,
)
from ....services.locks import LockBusy
from ....services.quota import QuotaSnapshot, observe_quota
from ... import blocks, ids
from ...api_errors import slack_error
from ...authz import AdminCheckFailed, NotAdmin
from ...ids import CardTarget, InvalidButtonValue, Origin
from ...ingress.envelope import ButtonPress
from ...ingress.middleware import ENVELOPE, REPLAY_UNCHECKED, first_delivery
from ...outbound.digests import compose_now
from ...outbound.response_url import ResponseUrl
from ..context import PressContext, common_failure_text

logger = logging.getLogger(__name__)

DEADLINE = 8.0


@dataclass(frozen=True, kw_only=True)
class CardContext(PressContext):
    """A button press on a quota card: the card's message, and how to update it."""

    message_ts: str | None
    is_ephemeral: bool
    origin: Origin
    block_id: str | None
    value: str | None

    @classmethod
    def from_press(
        cls, press: ButtonPress, runtime: Runtime, client: AsyncWebClient, *, replay_unchecked: bool
    ) -> CardContext:
        if not press.channel_id:
            raise InvalidButtonValue("no channel")
        return cls(
            runtime=runtime,
            client=client,
            response_url=ResponseUrl.of(runtime, press.response_url),
            team_id=press.team.id,
            user_id=press.user.id,
            channel_id=press.channel_id,
            replay_unchecked=replay_unchecked,
            message_ts=press.message_ts,
            is_ephemeral=press.container.is_ephemeral,
            origin=ids.origin_of(press.action.block_id),
            block_id=press.action.block_id,
            value=press.action.value,
        )

    async def update_card(
        self, snapshot: QuotaSnapshot, alias: str | None, *, toggleable: bool = True
    ) -> str | None:
        """Replace the card in place; the reason it could not be, or None when it was."""
        if self.origin == "digest" and self.message_ts and not self.is_ephemeral:
            return await self._update_digest()
        if self.origin == "alert":
            return None  # the alert stays as it was said; the thread note tells the change
        try:
            card = blocks.quota_card(snapshot, alias, origin=self.origin, toggleable=toggleable)
            text = blocks.quota_card_text(snapshot, alias)
            # An ephemeral message cannot be edited with chat.update, only via response_url.
            if self.origin == "message" and self.message_ts and not self.is_ephemeral:
                await self.client.chat_update(
                    channel=self.channel_id, ts=self.message_ts, text=text, blocks=card
                )
                return None
        except SlackApiError as exc:
            return slack_error(exc)
        except Exception as exc:
            logger.exception("Card update failed %s", self.log_context())
            return type(exc).__name__
        return await self.response_url.send(
            {"text": text, "blocks": card, "response_type": "in_channel", "replace_original": True}
        )

    async def _update_digest(self) -> str | None:
        """A digest's card changed: the digest is composed again and its message replaced."""
        assert self.message_ts is not None
        try:
            pages = await compose_now(
                self.runtime, team_id=self.team_id, channel_id=self.channel_id
            )
            page = next(
                (p for p in pages if any(b.get("block_id") == self.block_id for b in p.blocks)),
                pages[0],
            )
            await self.client.chat_update(
                channel=self.channel_id, ts=self.message_ts, text=page.text, blocks=page.blocks
            )
        except SlackApiError as exc:
            return slack_error(exc)
        except Exception as exc:
            logger.exception("Digest update failed %s", self.log_context())
            return type(exc).__name__
        return None

    async def reply_in_thread(self, text: str) -> str | None:
        """A note under the card; why it could not be posted, or None when it was."""
        if not self.message_ts or self.is_ephemeral:
            return None  # an ephemeral card has no thread
        try:
            await self.client.chat_postMessage(
                channel=self.channel_id, thread_ts=self.message_ts, text=text
            )
        except SlackApiError as exc:
            return slack_error(exc)
        except Exception as exc:
            return type(exc).__name__
        return None


def register(app: AsyncApp, runtime: Runtime) -> None:
    def listener(
        work: Callable[[CardContext], Awaitable[None]],
    ) -> Callable[..., Awaitable[None]]:
        async def handle(ack: AsyncAck, context: AsyncBoltContext, client: AsyncWebClient) -> None:
            await ack()
            press: ButtonPress = context[ENVELOPE]
            async with runtime.tracked():
                if not await first_delivery(context):
                    return
                await run_card_action(
                    press,
                    runtime,
                    client,
                    work,
                    replay_unchecked=bool(context.get(REPLAY_UNCHECKED)),
                )

        return handle

    app.action(re.compile(rf"^{ids.TOGGLE_ACTION}(:\w+)?$"))(listener(toggle_fallback))
    app.action(ids.REFRESH_ACTION)(listener(refresh_card))


async def run_card_action(
    press: ButtonPress,
    runtime: Runtime,
    client: AsyncWebClient,
    work: Callable[[CardContext], Awaitable[None]],
    *,
    replay_unchecked: bool,
) -> None:
    """Run one button's work, turning every expected failure into a private sentence."""
    try:
        context = CardContext.from_press(press, runtime, client, replay_unchecked=replay_unchecked)
    except InvalidButtonValue as exc:
        logger.warning("Unusable button press team=%s: %s", press.team.id, exc)
        return
    try:
        await work(context)
    except InvalidButtonValue as exc:
        logger.warning("Invalid card button %s: %s", context.log_context(), exc)
        await context.say_privately(blocks.INVALID_BUTTON)
    except Exception as exc:
        text = _card_failure_text(exc)
        if text is None:
            logger.exception("Card action failed %s", context.log_context())
            text = blocks.INTERNAL_ERROR
        else:
            logger.info("%s on a card %s: %s", type(exc).__name__, context.log_context(), exc)
        await context.say_privately(text)


def _card_failure_text(exc: Exception) -> str | None:
    match exc:
        case AliasNotFound():
            return blocks.card_alias_gone(exc.name)
        case TargetMoved():
            return blocks.target_moved(exc.alias)
        case ApplicationNotLinked():
            return blocks.application_not_linked(exc.application_id)
    return common_failure_text(exc)


async def toggle_fallback(context: CardContext) -> None:
    context.require_replay_checked()
    request, token = await _authorized_fallback_request(context)
    try:
        result = await set_global_fallback(
            context.runtime.acedata,
            context.runtime.db,
            token,
            request,
            deadline=DEADLINE,
            lock_wait=context.runtime.settings.fallback_lock_wait,
        )
    except LockBusy:
        await context.say_privately(blocks.fallback_busy(request.alias, request.application_id))
        return
    await _report_fallback_result(context, request, result)


async def _authorized_fallback_request(context: CardContext) -> tuple[FallbackRequest, str]:
    """The change the button asks for, once it is known to be allowed, and the token to make it
    with. Every refusal is audited before it is raised."""
    db = context.runtime.db
    try:
        target = ids.decode_toggle(context.value)
    except InvalidButtonValue:
        await record_unreadable_button(db, team_id=context.team_id, user_id=context.user_id)
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
        await record_attempt(db, request, outcome="refused", detail=type(exc).__name__)
        raise
    except AdminCheckFailed as exc:
        await record_attempt(db, request, outcome="failed", detail=f"users.info: {exc.reason}")
        raise
    try:
        return request, await context.token()
    except NoTokenConfigured:
        await record_attempt(db, request, outcome="failed", detail="no token")
        raise


async def _check_target(context: CardContext, target: CardTarget) -> None:
    await check_card_target(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        alias=target.alias,
        application_id=target.application_id,
    )


async def _report_fallback_result(
    context: CardContext, request: FallbackRequest, result: FallbackResult
) -> None:
    """Say what happened. Once the change is made, every later failure (card, note, audit) is
    reported as just that: it never reads as "nothing was changed"."""
    alias, application_id = request.alias, request.application_id
    if result.error is not None:
        await context.say_privately(
            blocks.fallback_failed(result.error, alias, application_id, uncertain=result.uncertain)
        )
        return
    assert result.snapshot is not None, "a result without an error carries the card's data"
    problems: list[str] = []
    card_problem = await context.update_card(result.snapshot, alias)
    if card_problem is not None:
        logger.warning("Card update failed %s: %s", context.log_context(), card_problem)
        problems.append(blocks.card_not_updated_part(card_problem))
    if result.outcome == "changed":
        note = blocks.fallback_changed_note(
            context.user_id, alias, application_id, result.before, result.after
        )
        note_problem = await context.reply_in_thread(note)
        if note_problem is not None:
            logger.warning("Thread note failed %s: %s", context.log_context(), note_problem)
            problems.append(blocks.note_not_posted_part(note_problem))
    if result.audit_missing:
        problems.append(blocks.AUDIT_MISSING_PART)
    match result.outcome:
        case "changed":
            if problems:
                await context.say_privately(
                    blocks.fallback_changed_with_problems(alias, application_id, result, problems)
                )
        case "unchanged":
            await context.say_privately(
                blocks.fallback_already(alias, application_id, result.after, problems)
            )
        case _:
            await context.say_privately(
                blocks.fallback_mismatch(
                    alias, application_id, request.enable, result.after, problems
                )
            )


async def refresh_card(context: CardContext) -> None:
    target = ids.decode_target(context.value)
    db = context.runtime.db
    toggleable = True
    if target.alias is not None:
        await _check_target(context, target)
    elif not await is_visible_in_channel(
        db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        application_id=target.application_id,
    ):
        # Only what `/quota` shows a member here: a raw ID is for admins.
        await context.require_admin("refresh a card of an application no alias here points to")
        toggleable = await is_linked_in_workspace(
            db, team_id=context.team_id, application_id=target.application_id
        )
    token = await context.token()
    try:
        snapshot = await observe_quota(
            context.runtime.acedata,
            context.runtime.db,
            token,
            team_id=context.team_id,
            application_id=target.application_id,
            deadline=DEADLINE,
        )
    except AceDataError as exc:
        logger.warning("Refresh failed %s: %s", context.log_context(), exc)
        await context.say_privately(
            blocks.upstream_problem(exc, application_id=target.application_id, alias=target.alias)
        )
        return
    card_problem = await context.update_card(snapshot, target.alias, toggleable=toggleable)
    if card_problem is not None:
        logger.warning("Card refresh failed %s: %s", context.log_context(), card_problem)
        await context.say_privately(
            blocks.card_not_updated(
                target.alias,
                target.application_id,
                snapshot.application.allow_consume_global,
                card_problem,
            )
        )
