"""The cap dialog's submission (admins): the typed cap is checked at once (a bad one is an
error on the field, nothing changed); the dialog then closes and the change is made like a key
button's — nothing the dialog carries is trusted, everything is checked again."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services.keys import InvalidCap, parse_cap, record_unreadable_key_button
from ... import ids
from ...blocks import keys as key_blocks
from ...ids import InvalidButtonValue
from ...ingress.envelope import ViewSubmission
from ...ingress.middleware import ENVELOPE, REPLAY_UNCHECKED
from ...outbound.response_url import ResponseUrl
from ..buttons.key_context import (
    CapDialog,
    DialogContext,
    authorized_key_request,
    carry_out,
    key_failure_text,
)
from ..pipeline import after_ack, run_answering_failures

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(ids.KEY_CAP_MODAL_CALLBACK)
    async def submit_cap(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        submission: ViewSubmission = context[ENVELOPE]
        team_id, user_id = str(context.team_id), submission.user.id  # the team Bolt authorized
        try:
            cap = parse_cap(submission.text_value(ids.KEY_CAP_BLOCK, ids.KEY_CAP_INPUT))
            view = body.get("view")
            dialog = CapDialog.decode(
                view.get("private_metadata") if isinstance(view, dict) else None
            )
        except InvalidCap as exc:
            await ack(response_action="errors", errors={ids.KEY_CAP_BLOCK: exc.reason})
            return
        except InvalidButtonValue:
            logger.warning("Unreadable cap dialog team=%s user=%s", team_id, user_id)
            await ack(
                response_action="errors",
                errors={ids.KEY_CAP_BLOCK: key_blocks.CAP_DIALOG_UNREADABLE},
            )
            await after_ack(
                runtime,
                context,
                lambda: record_unreadable_key_button(
                    runtime.db, team_id=team_id, user_id=user_id, action="key_cap"
                ),
            )
            return
        await ack()

        async def run() -> None:
            interaction = DialogContext(
                runtime=runtime,
                client=client,
                response_url=ResponseUrl.of(runtime, None),
                team_id=team_id,
                user_id=user_id,
                channel_id=dialog.channel,
                replay_unchecked=bool(context.get(REPLAY_UNCHECKED)),
                value=ids.encode(dialog.target),
                message_ts=dialog.ts,
                is_ephemeral=False,
                block_id=ids.KEY_ACTIONS_BLOCK if dialog.on_list else None,
            )
            await run_answering_failures(
                interaction,
                lambda context: set_cap(context, cap),
                failure_text=key_failure_text,
                what="set_key_cap",
            )

        await after_ack(runtime, context, run)


async def set_cap(context: DialogContext, cap: Decimal | None) -> None:
    context.require_replay_checked()
    request, token = await authorized_key_request(context, "key_cap", cap=cap)
    await carry_out(context, request, token)
