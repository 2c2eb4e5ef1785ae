"""What both of a quota card's buttons work with: the pressed card, how to update it in place
(a command's reply, a posted message, a digest, an alert), and the card's failures.

Button values are never trusted: the target is re-checked against the acting user's
workspace and channel, and the user's rights are checked again, before anything is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Self

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services.aliases import check_card_target
from ....services.errors import AliasNotFound, ApplicationNotLinked, TargetMoved
from ....services.quota import QuotaSnapshot
from ... import blocks, ids
from ...api_errors import slack_error
from ...ids import CardTarget, Origin
from ...ingress.envelope import ButtonPress
from ...ingress.middleware import ENVELOPE
from ...outbound.digests import compose_now
from ..context import PressContext
from ..pipeline import press_context

logger = logging.getLogger(__name__)

DEADLINE = 8.0


@dataclass(frozen=True, kw_only=True)
class MessagePress(PressContext):
    """A button press on a message: which message and block, and a note in its thread."""

    message_ts: str | None
    is_ephemeral: bool
    block_id: str | None
    trigger_id: str = ""  # to open a dialog with, for a few seconds after the press

    @classmethod
    def of(cls, runtime: Runtime, context: AsyncBoltContext, client: AsyncWebClient) -> Self:
        """The press's context; InvalidButtonValue when the press names no channel."""
        pressed = press_context(runtime, context, client)
        press: ButtonPress = context[ENVELOPE]
        return cls(
            **{field.name: getattr(pressed, field.name) for field in fields(PressContext)},
            message_ts=press.message_ts,
            is_ephemeral=press.container.is_ephemeral,
            block_id=press.action.block_id,
            trigger_id=press.trigger_id,
        )

    @property
    def has_thread(self) -> bool:
        return bool(self.message_ts) and not self.is_ephemeral

    async def reply_in_thread(self, text: str) -> str | None:
        """A note under the pressed message; why it could not be posted, or None when it was
        (or when the message has no thread: an ephemeral one)."""
        if not self.has_thread:
            return None
        try:
            await self.client.chat_postMessage(
                channel=self.channel_id, thread_ts=self.message_ts, text=text
            )
        except SlackApiError as exc:
            return slack_error(exc)
        except Exception as exc:
            return type(exc).__name__
        return None


@dataclass(frozen=True, kw_only=True)
class CardContext(MessagePress):
    """A button press on a quota card: how to update the card in place."""

    @property
    def origin(self) -> Origin:
        return ids.origin_of(self.block_id)

    async def update_card(
        self, snapshot: QuotaSnapshot, alias: str | None, *, toggleable: bool = True
    ) -> str | None:
        """Replace the card in place; the reason it could not be, or None when it was."""
        if self.in_digest:
            return await self.update_digest()
        if self.origin == "alert":
            return None  # the alert stays as it was said; the thread note tells the change
        try:
            card = blocks.quota_card(
                snapshot,
                alias,
                origin=self.origin,
                toggleable=toggleable,
                console=self.runtime.settings.console,
            )
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

    @property
    def in_digest(self) -> bool:
        """The card is one of a digest's, in a message the bot can edit."""
        return self.origin == "digest" and bool(self.message_ts) and not self.is_ephemeral

    async def update_digest(self) -> str | None:
        """A digest's card changed: the digest is composed again and its message replaced."""
        assert self.message_ts is not None
        try:
            pages = await compose_now(
                self.runtime,
                team_id=self.team_id,
                channel_id=self.channel_id,
                message_ts=self.message_ts,
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


def card_failure_text(exc: Exception) -> str | None:
    match exc:
        case AliasNotFound():
            return blocks.card_alias_gone(exc.name)
        case TargetMoved():
            return blocks.target_moved(exc.alias)
        case ApplicationNotLinked():
            return blocks.application_not_linked(exc.application_id)
    return blocks.failure_text(exc)


async def check_target(context: CardContext, target: CardTarget) -> None:
    await check_card_target(
        context.runtime.db,
        team_id=context.team_id,
        channel_id=context.channel_id,
        alias=target.alias,
        application_id=target.application_id,
    )
