"""The API-key buttons (admins): *Pause key* and *Resume key* make their change at once (after
Slack's confirm dialog); *Set cap…* opens the cap dialog, whose submission makes the change
(`views/key_cap.py`). *Pause key* is also on spike alerts: the change is noted in the pressed
message's thread wherever it is, and only a keys list is re-rendered in place."""

from __future__ import annotations

import logging
import re

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError

from ....acedata import AceDataError
from ....runtime import Runtime
from ....services.keys import KeyNotListed, find_key, record_key_attempt
from ... import ids
from ...api_errors import slack_error
from ...blocks import keys as key_blocks
from ..pipeline import button
from .key_context import (
    CapDialog,
    KeyContext,
    authorized_key_request,
    carry_out,
    key_failure_text,
)

logger = logging.getLogger(__name__)

# The cap dialog must open within Slack's 3 seconds of the press: the key is read quickly.
CAP_READ_DEADLINE = 1.5


def register(app: AsyncApp, runtime: Runtime) -> None:
    app.action(re.compile(rf"^{ids.KEY_PAUSE_ACTION}(:\w+)?$"))(
        button(runtime, KeyContext.of, pause_key, failure_text=key_failure_text)
    )
    app.action(re.compile(rf"^{ids.KEY_RESUME_ACTION}(:\w+)?$"))(
        button(runtime, KeyContext.of, resume_key, failure_text=key_failure_text)
    )

    app.action(re.compile(rf"^{ids.KEY_CAP_ACTION}(:\w+)?$"))(
        button(runtime, KeyContext.of, open_cap_dialog, failure_text=key_failure_text)
    )


async def pause_key(context: KeyContext) -> None:
    context.require_replay_checked()
    request, token = await authorized_key_request(context, "key_pause")
    await carry_out(context, request, token)


async def resume_key(context: KeyContext) -> None:
    context.require_replay_checked()
    request, token = await authorized_key_request(context, "key_resume")
    await carry_out(context, request, token)


async def open_cap_dialog(context: KeyContext) -> None:
    """The cap dialog for an admin, showing the key's spend and cap as read now. Nothing is
    changed here: the submission checks everything again."""
    request, token = await authorized_key_request(context, "key_cap")
    try:
        key = await find_key(
            context.runtime.acedata,
            token,
            application_id=request.application_id,
            key_id=request.key_id,
            deadline=CAP_READ_DEADLINE,
        )
    except KeyNotListed:
        await record_key_attempt(
            context.runtime.db, request, outcome="refused", detail="not_listed"
        )
        await context.say_privately(key_blocks.key_not_listed(request.alias))
        return
    except AceDataError as exc:
        logger.info("Cap dialog not opened %s: %s", context.log_context(), exc)
        await context.say_privately(
            key_blocks.key_failed(exc, request.alias, request.application_id, uncertain=False)
        )
        return
    dialog = CapDialog(
        channel=context.channel_id,
        ts=context.message_ts if context.has_thread else None,
        on_list=context.on_keys_list,
        target=ids.decode_key(context.value),
    )
    try:
        await context.client.views_open(
            trigger_id=context.trigger_id,
            view=key_blocks.cap_modal(request.alias, key, dialog.encode()),
        )
    except SlackApiError as exc:
        logger.warning("views.open failed %s: %s", context.log_context(), slack_error(exc))
        await context.say_privately(key_blocks.CAP_DIALOG_LATE)
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("views.open failed %s: %s", context.log_context(), type(exc).__name__)
        await context.say_privately(key_blocks.CAP_DIALOG_LATE)
