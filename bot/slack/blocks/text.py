"""Making outside text safe for Slack mrkdwn."""

from __future__ import annotations


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control (`<!channel>`, links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_input(raw: str, limit: int = 60) -> str:
    """User input echoed back: shortened, escaped, and without backticks that break code spans."""
    shown = raw if len(raw) <= limit else raw[: limit - 1] + "…"
    return escape(shown.replace("`", "'"))


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
