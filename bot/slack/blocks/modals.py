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

from .. import ids
from .text import clip, escape

TOKEN_DATABASE_PROBLEM = (
    "Quota Bot can't reach its database right now — nothing was saved; try again."
)
TOKEN_TOO_SLOW = "That took too long; nothing was saved. Submit again."
TOKEN_ROLE_UNCONFIRMED = (
    "Slack could not confirm your role right now; nothing was saved. Submit again."
)
TOKEN_ADMINS_ONLY = "Only bot admins can set the Ace Data Cloud token."
TOKEN_REJECTED = (
    "Ace Data Cloud rejected this token. Use an account (platform) token from the "
    "console's Platform Tokens page, not a service API key."
)
TOKEN_CHECK_TIMEOUT = "Ace Data Cloud did not answer in time to check the token; submit again."
TOKEN_SAVE_UNCERTAIN = (
    "The database stopped answering while saving, so the token may or may not be saved; "
    "submit again to be sure."
)
TOKEN_EMPTY = "Paste the platform token."
TOKEN_NOT_ONE_WORD = "That does not look like a platform token (one word, like platform-v1-…)."
TOKEN_NOT_ASCII = "A platform token has only plain ASCII letters, digits and dashes."


def token_check_failed(message: str) -> str:
    return f"Could not check the token with Ace Data Cloud: {message[:120]}"


TOKEN_CONSOLE_URL = "https://platform.acedata.cloud/console/platform-tokens"


def token_modal() -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=ids.TOKEN_MODAL_CALLBACK,
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
                block_id=ids.TOKEN_BLOCK,
                label=PlainTextObject(text="Platform token"),
                element=PlainTextInputElement(
                    action_id=ids.TOKEN_ACTION,
                    placeholder=PlainTextObject(text="platform-v1-…"),
                    max_length=200,
                ),
            ),
        ],
    ).to_dict()


def token_saved_view(last4: str, account: str) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=ids.TOKEN_SAVED_CALLBACK,
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
