"""What the API-key buttons (*Set cap…*, *Pause key*, *Resume key*, from a keys list or a spike
alert) and the cap dialog work with: the pressed message, the guarded change, and its report.

Nothing a press or a dialog carries is trusted: the user's rights are checked again, the alias
is resolved again in the channel for the acting workspace and must still name the button's
application, and the key must be among that application's keys as the workspace's own token
reads them. Every refusal is audited.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.errors import SlackApiError

from ....services.errors import (
    AliasNotFound,
    TargetMoved,
)
from ....services.keys import (
    KeyAction,
    KeyChangeRequest,
    KeyChangeResult,
    KeyList,
    change_key,
    check_key_target,
    record_key_attempt,
    record_unreadable_key_button,
)
from ....services.locks import LockBusy
from ... import blocks, ids
from ...api_errors import slack_error
from ...blocks import keys as key_blocks
from ...ids import InvalidButtonValue, KeyTarget
from .card_context import MessagePress

logger = logging.getLogger(__name__)

DEADLINE = 8.0
_ACTIONS = {
    "key_cap": "set a key's spend cap",
    "key_pause": "pause a key",
    "key_resume": "resume a key",
}


@dataclass(frozen=True, kw_only=True)
class KeyContext(MessagePress):
    """A press of a key button: the message it is on, and how to update it."""

    @property
    def on_keys_list(self) -> bool:
        """Pressed on a keys list the bot can edit (not, say, on a spike alert)."""
        block = self.block_id or ""
        return self.has_thread and block.startswith(ids.KEY_ACTIONS_BLOCK)

    async def update_list(self, alias: str, listed: KeyList) -> str | None:
        """Replace the keys list in place; why it could not be, or None when it was."""
        assert self.message_ts is not None
        try:
            await self.client.chat_update(
                channel=self.channel_id,
                ts=self.message_ts,
                text=key_blocks.keys_text(alias, listed),
                blocks=key_blocks.keys_message(alias, listed),
            )
        except SlackApiError as exc:
            return slack_error(exc)
        except Exception as exc:
            logger.exception("Keys list update failed %s", self.log_context())
            return type(exc).__name__
        return None


@dataclass(frozen=True, kw_only=True)
class DialogContext(KeyContext):
    """The cap dialog's submission: it has no response_url, so a private answer is an
    ephemeral message in the channel the dialog was opened from."""

    async def say_privately(self, text: str, blocks_: blocks.Blocks | None = None) -> bool:
        try:
            await self.client.chat_postEphemeral(
                channel=self.channel_id, user=self.user_id, text=text
            )
        except Exception as exc:
            reason = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
            logger.warning("Could not deliver a private reply %s: %s", self.log_context(), reason)
            return False
        return True


class CapDialog(BaseModel):
    """What the cap dialog carries in its private_metadata (read back untrusted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str = Field(pattern=r"^[A-Z0-9]{1,32}$")
    ts: str | None = Field(default=None, pattern=r"^\d{1,12}\.\d{1,8}$")
    on_list: bool
    target: KeyTarget

    def encode(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: Any) -> CapDialog:
        try:
            return cls.model_validate_json(raw if isinstance(raw, str) else "")
        except ValidationError:
            raise InvalidButtonValue("unreadable cap dialog") from None


def key_failure_text(exc: Exception) -> str | None:
    match exc:
        case AliasNotFound():
            return key_blocks.keys_alias_gone(exc.name)
        case TargetMoved():
            return key_blocks.keys_target_moved(exc.alias)
    return blocks.failure_text(exc)


async def authorized_key_request(
    context: KeyContext, action: KeyAction, *, cap: Any = None
) -> tuple[KeyChangeRequest, str]:
    """The change a key button asks for, once it is known to be allowed, and the token to make
    it with. Every refusal is audited before it is raised."""
    db = context.runtime.db
    try:
        target = ids.decode_key(context.value)
    except InvalidButtonValue:
        await record_unreadable_key_button(
            db, team_id=context.team_id, user_id=context.user_id, action=action
        )
        raise
    request = KeyChangeRequest(
        team_id=context.team_id,
        user_id=context.user_id,
        channel_id=context.channel_id,
        alias=target.alias,
        application_id=target.application_id,
        key_id=target.key_id,
        action=action,
        cap=cap,
    )

    async def record(outcome: str, detail: str) -> None:
        await record_key_attempt(db, request, outcome=outcome, detail=detail)

    token = await context.authorized_token(
        _ACTIONS[action],
        lambda: check_key_target(
            db,
            team_id=context.team_id,
            channel_id=context.channel_id,
            alias=target.alias,
            application_id=target.application_id,
        ),
        record,
        refused=(AliasNotFound, TargetMoved),
    )
    return request, token


async def carry_out(context: KeyContext, request: KeyChangeRequest, token: str) -> None:
    """Make the change and say what happened."""
    try:
        result = await change_key(
            context.runtime.acedata,
            context.runtime.db,
            token,
            request,
            deadline=DEADLINE,
            lock_wait=context.runtime.settings.fallback_lock_wait,
        )
    except LockBusy:
        await context.say_privately(key_blocks.key_busy(request.alias))
        return
    await report_key_result(context, request, result)


async def report_key_result(
    context: KeyContext, request: KeyChangeRequest, result: KeyChangeResult
) -> None:
    """Say what happened. Once the change is made, every later failure (the list, the note,
    the audit row) is reported as just that: it never reads as "nothing was changed"."""
    alias = request.alias
    if result.outcome == "refused":
        await context.say_privately(
            key_blocks.key_not_listed(alias)
            if result.reason == "not_listed" or result.before is None
            else key_blocks.key_not_paused_by_bot(result.before, alias)
        )
        return
    problems: list[str] = []
    if result.keys is not None and context.on_keys_list:
        problem = await context.update_list(alias, result.keys)
        if problem is not None:
            logger.warning("Keys list update failed %s: %s", context.log_context(), problem)
            if result.error is None:
                problems.append(key_blocks.list_not_updated_part(problem, alias))
    if result.error is not None:
        await context.say_privately(
            key_blocks.key_failed(
                result.error,
                alias,
                request.application_id,
                uncertain=result.uncertain,
                key=result.before,
            )
        )
        return
    if result.outcome == "changed":
        problems += await _note(context, request, result)
    if result.audit_missing:
        problems.append(blocks.AUDIT_MISSING_PART)
    await _say_outcome(context, request, result, problems)


async def _note(
    context: KeyContext, request: KeyChangeRequest, result: KeyChangeResult
) -> list[str]:
    """The note of a change: in the pressed message's thread, else privately."""
    note = key_blocks.key_changed_note(context.user_id, request.action, result, request.alias)
    if not context.has_thread:
        await context.say_privately(note)
        return []
    problem = await context.reply_in_thread(note)
    if problem is None:
        return []
    logger.warning("Thread note failed %s: %s", context.log_context(), problem)
    return [key_blocks.key_note_not_posted_part(problem)]


async def _say_outcome(
    context: KeyContext, request: KeyChangeRequest, result: KeyChangeResult, problems: list[str]
) -> None:
    match result.outcome:
        case "changed":
            if problems:
                await context.say_privately(
                    key_blocks.key_changed_with_problems(
                        request.action, result, request.alias, problems
                    )
                )
        case "unchanged":
            assert result.after is not None, "an unchanged key was read"
            await context.say_privately(
                key_blocks.key_already(request.action, result.after, request.alias, problems)
            )
        case _:
            await context.say_privately(
                key_blocks.key_mismatch(request.action, result, request.alias)
            )
