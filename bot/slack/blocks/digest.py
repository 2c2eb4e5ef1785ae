"""The channel digest: a summary, then each alias with its forecast and the card's buttons.

More aliases than one message holds continue in thread replies; none is ever left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ...acedata import Application
from ...services.forecast import Forecast
from ...services.quota import QuotaSnapshot
from ...services.usage import ApiShare
from .. import ids
from .breakdown import top_text
from .card import MAX_HEADER, card_buttons
from .forecast import forecast_text, spark_text
from .format import (
    MAX_BLOCKS,
    Blocks,
    amount,
    blocks,
    fallback_state,
    is_displayable,
    named,
    percent,
    quantity,
    slack_date,
    unit,
)
from .format import title as service_title
from .text import clip, escape
from .usage import USAGE

LOW_PERCENT = 10
LOW_WITHIN = timedelta(days=3)
# An unreadable alias gets its reason in full on its card; here it is cut so that no section
# can outgrow Slack's 3,000 characters.
MAX_PROBLEM = 500

# An alias's blocks: its section, and its buttons when it could be read.
_Group = list[SectionBlock | ActionsBlock]


@dataclass(frozen=True)
class DigestLine:
    """One alias as the digest shows it: its reading, or why there is none."""

    alias: str
    application_id: str
    snapshot: QuotaSnapshot | None  # None: could not be read
    problem: str | None  # the sentence saying why not (already mrkdwn-safe)
    change: Decimal | None  # remaining now minus remaining at the last digest; None if none
    forecast: Forecast | None
    top: tuple[ApiShare, ...] = ()  # the APIs that cost most today (none: unknown, or none)


@dataclass(frozen=True)
class DigestMessage:
    """One message to post: the first goes to the channel, the others into its thread."""

    text: str  # notification text
    blocks: Blocks  # Block Kit


class _Status(IntEnum):
    """How an alias stands, in the order the digest lists them."""

    EXHAUSTED = 0
    LOW = 1
    OK = 2
    UNREADABLE = 3


_MARKERS = {
    _Status.EXHAUSTED: ":red_circle:",
    _Status.LOW: ":large_orange_circle:",
    _Status.OK: ":large_green_circle:",
    _Status.UNREADABLE: ":grey_question:",
}


def digest_messages(
    lines: Sequence[DigestLine],
    *,
    title: str,
    now: datetime,
    zone: ZoneInfo,
    late_slot: datetime | None,
    global_balance: Application | None,
    console: str | None = None,
) -> list[DigestMessage]:
    """The channel message first, then the thread replies that continue it (if any), each
    within Slack's 50 blocks."""
    ranked = sorted(((_status(line, now), line) for line in lines), key=_order)
    summary = _summary([rank for rank, _ in ranked], global_balance)
    head = [
        HeaderBlock(text=PlainTextObject(text=clip(title, MAX_HEADER), emoji=False)),
        SectionBlock(text=MarkdownTextObject(text=summary)),
    ]
    if late_slot is not None:
        head.append(_context(f"Sent late: this was due {slack_date(late_slot)}"))
    if not ranked:
        head.append(_context(f"No aliases are linked here yet. Add one with `{USAGE['link']}`."))
    groups = [
        _alias_blocks(line, rank, index, now=now, zone=zone, console=console)
        for index, (rank, line) in enumerate(ranked)
    ]
    if len(head) + sum(len(group) for group in groups) <= MAX_BLOCKS:
        pages = [groups]
    else:
        # One block for the note saying where the rest is, one per reply for its heading.
        pages = _pack(groups, first=MAX_BLOCKS - len(head) - 1, rest=MAX_BLOCKS - 1)
        shown = len(pages[0])
        head.append(
            _context(
                f"{shown} of {len(ranked)} aliases here · the other {len(ranked) - shown} "
                "continued in the thread"
            )
        )
    messages = [DigestMessage(f"{escape(title)}: {summary}", [*blocks(*head), *_flat(pages[0])])]
    start = len(pages[0])
    for page in pages[1:]:
        span = f"aliases {start + 1} to {start + len(page)} of {len(ranked)}"
        messages.append(
            DigestMessage(
                f"{escape(title)} (continued: {span})",
                [*blocks(_context(f"Continued: {span}")), *_flat(page)],
            )
        )
        start += len(page)
    return messages


def _status(line: DigestLine, now: datetime) -> _Status:
    """Exhausted (nothing left), low (under 10% or out within 3 days), OK, or unreadable."""
    if line.snapshot is None:
        return _Status.UNREADABLE
    remaining = line.snapshot.application.remaining_amount
    if remaining.is_finite() and remaining <= 0:
        return _Status.EXHAUSTED
    left = line.snapshot.percent_left
    runs_out = line.forecast.runs_out_at if line.forecast else None
    if (left is not None and left < LOW_PERCENT) or (
        runs_out is not None and runs_out <= now + LOW_WITHIN
    ):
        return _Status.LOW
    return _Status.OK


def _order(item: tuple[_Status, DigestLine]) -> tuple[int, str]:
    """Exhausted first, then low, then the rest (readable or not) by alias."""
    rank, line = item
    return min(rank, _Status.OK), line.alias


def _summary(ranks: Sequence[_Status], global_balance: Application | None) -> str:
    count = {rank: ranks.count(rank) for rank in _Status}
    parts = [
        f"{len(ranks)} alias{'' if len(ranks) == 1 else 'es'}",
        f"{count[_Status.LOW]} low",
        f"{count[_Status.EXHAUSTED]} exhausted",
    ]
    if count[_Status.UNREADABLE]:
        parts.append(f"{count[_Status.UNREADABLE]} unreadable")
    balance = "unavailable" if global_balance is None else quantity(global_balance)
    parts.append(f"global balance {balance}")
    return " · ".join(parts)


def _alias_blocks(
    line: DigestLine,
    rank: _Status,
    index: int,
    *,
    now: datetime,
    zone: ZoneInfo,
    console: str | None,
) -> _Group:
    """The alias's section and, when it could be read, the card's buttons under it."""
    name = f"{_MARKERS[rank]} {named(line.alias, line.application_id)}"
    snapshot = line.snapshot
    if snapshot is None:
        problem = clip(" ".join((line.problem or "It could not be read.").split()), MAX_PROBLEM)
        text = f"{name} — `{escape(line.application_id)}`: {problem}"
        return [SectionBlock(text=MarkdownTextObject(text=text))]
    app = snapshot.application
    left = snapshot.percent_left
    first = f"{name} — {escape(service_title(app))}: remaining {quantity(app)}"
    if left is not None:
        first += f" ({percent(left)})"
    if line.change is not None and is_displayable(line.change):
        first += f" · {_change(line.change)}"
    fallback = app.allow_consume_global
    outlook = line.forecast
    details = [f"global fallback {fallback_state(fallback)}"]
    if outlook is not None:
        shown = forecast_text(
            outlook, unit=unit(app), now=now, zone=zone, fallback_on=fallback is True
        )
        spark = spark_text(outlook)
        details = [shown, *details, *([spark] if spark else [])]
    if line.top:
        details.append(top_text(line.top))
    return [
        SectionBlock(text=MarkdownTextObject(text=f"{first}\n{' · '.join(details)}")),
        ActionsBlock(
            block_id=f"{ids.actions_block_id('digest')}:{index}",
            elements=card_buttons(snapshot, line.alias, toggleable=True, console=console),
        ),
    ]


def _change(change: Decimal) -> str:
    if change == 0:
        return "no change since the last digest"
    sign = "+" if change > 0 else "-"
    return f"{sign}{amount(abs(change))} since the last digest"


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _pack(groups: Sequence[_Group], *, first: int, rest: int) -> list[list[_Group]]:
    """Groups of blocks laid into pages of at most `first`, then `rest`, blocks; a group is
    never split."""
    pages: list[list[_Group]] = [[]]
    room = first
    for group in groups:
        if pages[-1] and sum(len(kept) for kept in pages[-1]) + len(group) > room:
            pages.append([])
            room = rest
        pages[-1].append(group)
    return pages


def _flat(page: Sequence[_Group]) -> Blocks:
    return [block for group in page for block in blocks(*group)]
