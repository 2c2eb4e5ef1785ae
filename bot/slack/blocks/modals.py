"""Modals: the dialog that takes the workspace's Ace Data Cloud token."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from .text import clip, escape

TOKEN_MODAL_CALLBACK = "quota_token_modal"
TOKEN_BLOCK = "token"
TOKEN_ACTION = "token_input"
TOKEN_CONSOLE_URL = "https://platform.acedata.cloud/console/platform-tokens"


def token_modal() -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=TOKEN_MODAL_CALLBACK,
        title=PlainTextObject(text="Ace Data Cloud token"),
        submit=PlainTextObject(text="Check and save"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text="Paste the workspace's *account (platform) token* from "
                    f"<{TOKEN_CONSOLE_URL}|the Ace Data Cloud console>. It is checked with Ace "
                    "Data Cloud, stored encrypted, and never shown again."
                )
            ),
            InputBlock(
                block_id=TOKEN_BLOCK,
                label=PlainTextObject(text="Platform token"),
                element=PlainTextInputElement(
                    action_id=TOKEN_ACTION,
                    placeholder=PlainTextObject(text="platform-v1-…"),
                    max_length=200,
                ),
            ),
        ],
    ).to_dict()


def token_saved_view(last4: str, account: str) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=TOKEN_MODAL_CALLBACK + "_done",
        title=PlainTextObject(text="Ace Data Cloud token"),
        close=PlainTextObject(text="Done"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":white_check_mark: Saved the token ending in `{escape(last4)}` for "
                    f"the Ace Data Cloud account *{escape(clip(account, 80))}*."
                )
            )
        ],
    ).to_dict()
