"""Every routing string the bot's messages and views carry (action, block and callback ids),
and every button value as a model, read back without trusting it. The only place they are
defined: renderers write them, listeners route on them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictBool,
    StringConstraints,
    ValidationError,
)

from ..services.alerts import SNOOZE_CHOICES
from ..services.aliases import normalize_alias, normalize_application_id
from ..services.errors import ServiceError
from ..services.spikes import SNOOZE_CHOICES as SPIKE_SNOOZE_CHOICES

TOGGLE_ACTION = "quota_card_toggle_fallback"
REFRESH_ACTION = "quota_card_refresh"
ACTIONS_BLOCK = "quota_card_actions"
# An alert message carries the card's switch among its own buttons.
ALERT_ACTIONS_BLOCK = "quota_alert_actions"
SNOOZE_ACTION = "quota_alert_snooze"
# Link buttons open the console; Slack still sends their press, which is only acknowledged.
LINK_ACTION_PREFIX = "quota_link"
CONSOLE_ACTION = f"{LINK_ACTION_PREFIX}_console"
TOP_UP_ACTION = f"{LINK_ACTION_PREFIX}_top_up"
# `/quota usage`: its Refresh button, and the block holding its buttons.
USAGE_REFRESH_ACTION = "quota_usage_refresh"
USAGE_ACTIONS_BLOCK = "quota_usage_actions"
# `/quota keys` (and a spike alert's *Pause key*): one button of each per key.
KEY_CAP_ACTION = "quota_key_cap"
KEY_PAUSE_ACTION = "quota_key_pause"
KEY_RESUME_ACTION = "quota_key_resume"
KEY_ACTIONS_BLOCK = "quota_key_actions"
KEY_CAP_MODAL_CALLBACK = "quota_key_cap_modal"
KEY_CAP_BLOCK = "key_cap"
KEY_CAP_INPUT = "key_cap_input"
# A spike alert is an alert (its fallback switch is updated as an alert's is).
SPIKE_ACTIONS_BLOCK = f"{ALERT_ACTIONS_BLOCK}:spike"
SPIKE_SNOOZE_ACTION = "quota_spike_snooze"
HOME_TOKEN_ACTION = "quota_home_set_token"
TOKEN_MODAL_CALLBACK = "quota_token_modal"
TOKEN_SAVED_CALLBACK = TOKEN_MODAL_CALLBACK + "_done"
TOKEN_BLOCK = "token"
TOKEN_ACTION = "token_input"
# *Enable global fallback* opens a dialog: for how long, then the switch (or, with two-person
# approval on, a request that another admin approves or rejects).
ENABLE_MODAL_CALLBACK = "quota_fallback_enable_modal"
DURATION_BLOCK = "fallback_duration"
DURATION_ACTION = "fallback_duration_input"
APPROVE_ACTION = "quota_fallback_approve"
REJECT_ACTION = "quota_fallback_reject"
APPROVAL_ACTIONS_BLOCK = "quota_fallback_approval"
# A console link's unfurl: its Refresh button.
UNFURL_REFRESH_ACTION = "quota_unfurl_refresh"
UNFURL_ACTIONS_BLOCK = "quota_unfurl_actions"
# Workflow Builder steps (the `functions` of manifest.yml), by callback id.
GET_QUOTA_STEP = "get_quota"
REQUEST_FALLBACK_STEP = "request_global_fallback"
POST_CARD_STEP = "post_quota_card"

# Where a card lives decides how it is updated: a slash-command reply through its
# response_url, a message the bot posted itself through chat.update, and a digest (many cards
# in one message, each block id ending in `:<index>`) by composing the digest again, and an
# alert (left as it is: what the switch did goes in its thread).
Origin = Literal["command", "message", "digest", "alert"]


class InvalidButtonValue(Exception):
    """The button's value is not one the bot could have written."""


def _checked(normalize: Callable[[str], str], value: str) -> str:
    try:
        return normalize(value)
    except ServiceError as exc:
        raise ValueError(str(exc)) from None


def _one_of(choices: Collection[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError("not a choice")
        return value

    return check


KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What a button value may name, each checked as the bot writes it.
AliasName = Annotated[str, AfterValidator(lambda value: _checked(normalize_alias, value))]
ApplicationId = Annotated[
    str, AfterValidator(lambda value: _checked(normalize_application_id, value))
]
KeyId = Annotated[str, StringConstraints(pattern=KEY_ID.pattern)]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardTarget(_Value):
    alias: AliasName | None
    application_id: ApplicationId


class ToggleTarget(CardTarget):
    enable: StrictBool


ValueT = TypeVar("ValueT", bound=BaseModel)


class SnoozeChoice(_Value):
    """A Snooze button on an alert: which alias, and for how long."""

    alias: AliasName
    snooze: Annotated[str, AfterValidator(_one_of(SNOOZE_CHOICES))]


class SpikeSnooze(_Value):
    """A Snooze button on a spike alert: which alias, and for how long."""

    alias: AliasName
    snooze: Annotated[str, AfterValidator(_one_of(SPIKE_SNOOZE_CHOICES))]


class UsageTarget(_Value):
    """A `/quota usage` message: which alias, over which period."""

    alias: AliasName
    period: Literal["today", "7d", "30d"]


class KeyTarget(_Value):
    """One API key of an alias's application, as a key button names it (untrusted)."""

    alias: AliasName
    application_id: ApplicationId
    key_id: KeyId


class ApprovalChoice(_Value):
    """*Approve* or *Reject* on a fallback request: which request (untrusted)."""

    request: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class EnableDialog(_Value):
    """What the Enable dialog carries back (its private_metadata): the pressed card and where
    it was, re-checked like a button value."""

    target: ToggleTarget
    channel: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,32}$")]
    ts: Annotated[str, StringConstraints(pattern=r"^\d{1,12}\.\d{1,8}$")] | None
    ephemeral: StrictBool
    block_id: Annotated[str, StringConstraints(max_length=255)] | None
    response_url: Annotated[str, StringConstraints(max_length=1000)] | None


def encode(target: BaseModel) -> str:
    return json.dumps(target.model_dump(), separators=(",", ":"))


def decode_target(raw: str | None) -> CardTarget:
    return _decode(CardTarget, raw)


def decode_toggle(raw: str | None) -> ToggleTarget:
    return _decode(ToggleTarget, raw)


def decode_snooze(raw: str | None) -> SnoozeChoice:
    return _decode(SnoozeChoice, raw)


def decode_spike_snooze(raw: str | None) -> SpikeSnooze:
    return _decode(SpikeSnooze, raw)


def decode_usage(raw: str | None) -> UsageTarget:
    return _decode(UsageTarget, raw)


def decode_key(raw: str | None) -> KeyTarget:
    return _decode(KeyTarget, raw)


def decode_approval(raw: str | None) -> ApprovalChoice:
    return _decode(ApprovalChoice, raw)


def decode_enable_dialog(raw: str | None) -> EnableDialog:
    return _decode(EnableDialog, raw)


def _decode(model: type[ValueT], raw: str | None) -> ValueT:
    try:
        return model.model_validate_json(raw or "")
    except ValidationError:
        raise InvalidButtonValue(repr((raw or "")[:100])) from None


def origin_of(block_id: str | None) -> Origin:
    if block_id == f"{ACTIONS_BLOCK}:message":
        return "message"
    if block_id is not None and block_id.startswith(f"{ACTIONS_BLOCK}:digest:"):
        return "digest"
    if block_id is not None and block_id.startswith(ALERT_ACTIONS_BLOCK):
        return "alert"
    return "command"


def actions_block_id(origin: Origin) -> str:
    return f"{ACTIONS_BLOCK}:{origin}"
