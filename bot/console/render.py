"""Block Kit as plain text lines for the console: pure, no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)>")
_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#C[A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


def plain(text: str) -> str:
    """Slack mrkdwn as a terminal shows it: dates by their fallback, links as `label (url)`,
    mentions of the console's user as @you, and `&lt;` `&gt;` `&amp;` turned back."""
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    text = _USER.sub("@you", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1) or 'channel'}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass
class Button:
    """A button as listed under a message: pressed by its number."""

    number: int
    element: dict[str, Any]
    block_id: str

    @property
    def label(self) -> str:
        return plain(str((self.element.get("text") or {}).get("text", "")))

    @property
    def url(self) -> str | None:
        return self.element.get("url")


@dataclass
class Rendered:
    lines: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)


def _text_of(obj: Any) -> str:
    return plain(str(obj.get("text", ""))) if isinstance(obj, dict) else ""


def _button_line(buttons: list[Button]) -> str:
    shown = []
    for button in buttons:
        label = f"[{button.number}] {button.label}"
        shown.append(f"{label} {button.url}" if button.url else label)
    return "  ".join(shown)


def render_blocks(blocks: list[dict[str, Any]], *, first_number: int = 1) -> Rendered:
    """The lines of `blocks`, and their buttons numbered from `first_number`."""
    out = Rendered()
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text_of(block.get("text"))
            out.lines += [title, "=" * len(title)]
        elif kind == "section":
            _section(block, out, first_number)
        elif kind == "context":
            texts = [_text_of(e) for e in block.get("elements", []) if "text" in e]
            out.lines.append("  " + " · ".join(t for t in texts if t))
        elif kind == "divider":
            out.lines.append("-" * 40)
        elif kind == "actions":
            row = _buttons(block, block.get("elements", []), out, first_number)
            if row:
                out.lines.append(_button_line(row))
        elif kind == "input":
            out.lines.append(f"{_text_of(block.get('label'))}: …")
        elif kind == "rich_text":
            out.lines.append(_rich_text(block))
    return out


def _section(block: dict[str, Any], out: Rendered, first_number: int) -> None:
    if block.get("text"):
        out.lines += _text_of(block["text"]).splitlines() or [""]
    for item in block.get("fields") or []:
        out.lines.append("  " + _text_of(item).replace("\n", " "))
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        row = _buttons(block, [accessory], out, first_number)
        if row:
            out.lines.append(_button_line(row))


def _buttons(
    block: dict[str, Any], elements: list[dict[str, Any]], out: Rendered, first_number: int
) -> list[Button]:
    row = []
    for element in elements:
        if element.get("type") != "button":
            continue
        button = Button(first_number + len(out.buttons), element, str(block.get("block_id", "")))
        out.buttons.append(button)
        row.append(button)
    return row


def _rich_text(block: dict[str, Any]) -> str:
    parts: list[str] = []
    for section in block.get("elements", []):
        for element in section.get("elements", []):
            parts.append(str(element.get("text", "")))
    return "".join(parts)


def render_message(message: dict[str, Any], *, mark: str = "", first_number: int = 1) -> Rendered:
    """A message (or a modal view) as text: its blocks, else its `text`."""
    blocks = message.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    out = render_blocks(list(blocks or []), first_number=first_number)
    if not out.lines:
        out.lines = plain(str(message.get("text") or "")).splitlines()
    title = _text_of(message.get("title"))
    if title:
        out.lines.insert(0, f"[dialog] {title}")
    if mark:
        out.lines = [f"{mark} {out.lines[0]}" if out.lines else mark, *out.lines[1:]]
    return out
