"""The Enable dialog's submission (admins): for how long. The dialog closes at once; then the
press is checked again as the button's would be (nothing the dialog carries is trusted) and the
fallback is switched on — until the chosen time, when the worker switches it back — or, with
two-person approval on, a request for another admin is posted in the card's thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from ....runtime import Runtime
from ....services import approvals
from ....services.clock import utcnow
from ....services.fallback import TimerChange
from ....services.fallback_timers import DURATIONS, Duration, Where, off_time
from ... import ids
from ...blocks import approval as approval_blocks
from ...ids import EnableDialog, InvalidButtonValue
from ...ingress.envelope import ViewSubmission
from ...ingress.middleware import ENVELOPE, REPLAY_UNCHECKED
from ...outbound.response_url import ResponseUrl
from ..buttons.card_context import CardContext, card_failure_text
from ..buttons.fallback_switch import ask_for_approval, authorized_fallback_request, switch_now
from ..pipeline import after_ack, run_answering_failures

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(ids.ENABLE_MODAL_CALLBACK)
    async def submit_enable(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        submission: ViewSubmission = context[ENVELOPE]
        team_id, user_id = str(context.team_id), submission.user.id  # the team Bolt authorized
        chosen = submission.chosen_value(ids.DURATION_BLOCK, ids.DURATION_ACTION)
        view = body.get("view")
        try:
            dialog = ids.decode_enable_dialog(
                view.get("private_metadata") if isinstance(view, dict) else None
            )
            if chosen not in DURATIONS:
                raise InvalidButtonValue(f"duration {chosen[:20]!r}")
        except InvalidButtonValue as exc:
            logger.warning("Unreadable Enable dialog team=%s user=%s: %s", team_id, user_id, exc)
            await ack(
                response_action="errors",
                errors={ids.DURATION_BLOCK: approval_blocks.ENABLE_DIALOG_UNREADABLE},
            )
            return
        await ack()

        async def run() -> None:
            interaction = CardContext(
                runtime=runtime,
                client=client,
                response_url=ResponseUrl.of(runtime, dialog.response_url),
                team_id=team_id,
                user_id=user_id,
                channel_id=dialog.channel,
                replay_unchecked=bool(context.get(REPLAY_UNCHECKED)),
                value=ids.encode(dialog.target),
                message_ts=dialog.ts,
                is_ephemeral=dialog.ephemeral,
                block_id=dialog.block_id,
            )
            await run_answering_failures(
                interaction,
                lambda context: enable(context, dialog, chosen),  # type: ignore[arg-type]
                failure_text=card_failure_text,
                what="enable_fallback",
            )

        await after_ack(runtime, context, run)


async def enable(context: CardContext, dialog: EnableDialog, duration: Duration) -> None:
    context.require_replay_checked()
    zone = await context.local_zone()
    where = Where(
        dialog.target.alias, context.channel_id, context.message_ts if context.has_thread else None
    )
    off_at = off_time(duration, now=utcnow(), zone=zone)
    request, token = await authorized_fallback_request(
        context, dialog.target, timer=TimerChange(off_at, where)
    )
    if await approvals.approval_required(context.runtime.db, context.team_id):
        await ask_for_approval(context, request, token, duration)
        return
    await switch_now(context, request, token)
