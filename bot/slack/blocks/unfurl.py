"""A console link's unfurl: the application's quota in one line, and *Refresh*."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ...services.quota import QuotaSnapshot
from .. import ids
from .card import fallback_text
from .format import Blocks, blocks, percent, quantity, slack_date, title
from .text import escape


def unfurl_blocks(snapshot: QuotaSnapshot, alias: str) -> Blocks:
    app = snapshot.application
    line = (
        f"*{escape(title(app))} · {escape(alias)}* — {quantity(app)} left "
        f"({percent(snapshot.percent_left)}) · global fallback {fallback_text(snapshot)}"
    )
    value = ids.encode(ids.CardTarget(alias=alias, application_id=app.id))
    return blocks(
        SectionBlock(text=MarkdownTextObject(text=line)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Quota Bot · `/quota {escape(alias)}` for the card · as of "
                    f"{slack_date(snapshot.as_of)}"
                )
            ]
        ),
        ActionsBlock(
            block_id=ids.UNFURL_ACTIONS_BLOCK,
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Refresh"),
                    action_id=ids.UNFURL_REFRESH_ACTION,
                    value=value,
                )
            ],
        ),
    )


UNFURL_GONE = (
    "This preview can no longer be refreshed here: the alias no longer points to this "
    "application in this channel. Nothing was changed."
)


def unfurl_not_refreshed(problem: str) -> str:
    return (
        f":warning: The preview could not be refreshed (Slack said `{escape(problem)}`). Try "
        "again in a minute."
    )
