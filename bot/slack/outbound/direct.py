"""Direct messages to one user: what they set up stopped working."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)


async def direct_message(client: AsyncWebClient, user_id: str, text: str) -> None:
    """Send `text` to `user_id`; a failure is logged, never raised."""
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except Exception as exc:
        logger.warning(
            "Could not send a direct message to user=%s: %s", user_id, type(exc).__name__
        )
