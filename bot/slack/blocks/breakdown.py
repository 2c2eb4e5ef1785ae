"""An application's spend by API: the `/quota usage` message (top APIs with their share, "Others",
a total per day, the failed calls), the "top:" part of a digest line and App Home's top API of
the week, and the sentences around them. Shares are rounded here, for display only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ...acedata import Application
from ...services.usage import ApiShare, Period, PeriodBounds, UsageReport, whole_percents
from .. import ids
from .card import MAX_HEADER, console_buttons
from .format import Blocks, amount, blocks, slack_date, title, unit
from .text import clip, escape

# An API's title as a line shows it (outside text: cut, then escaped).
MAX_API_TITLE = 60
_LABELS: dict[Period, str] = {
    "today": "today",
    "7d": "in the last 7 days",
    "30d": "in the last 30 days",
}


def period_label(period: Period) -> str:
    return _LABELS[period]


def usage_message(
    report: UsageReport, alias: str, *, as_of: datetime, console: str | None, posted: bool = False
) -> dict[str, Any]:
    """The `/quota usage` message, posted to the channel like a card (`posted`: by the bot
    itself, so updated with chat.update)."""
    return {
        "response_type": "in_channel",
        "text": usage_text(report, alias),
        "blocks": usage_blocks(report, alias, as_of=as_of, console=console, posted=posted),
    }


def usage_text(report: UsageReport, alias: str) -> str:
    """The notification text that goes with the message."""
    spent = report.breakdown.total
    what = f"{_quantity(spent, report.application)} used" if spent else "no usage"
    return f"{escape(alias)}: {what} {period_label(report.bounds.period)}"


def usage_blocks(
    report: UsageReport, alias: str, *, as_of: datetime, console: str | None, posted: bool = False
) -> Blocks:
    app = report.application
    heading = f"{title(app)} · {alias}" if app else alias
    heading += f" — usage {period_label(report.bounds.period)}"
    items: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=clip(heading, MAX_HEADER), emoji=False)),
        _section(_apis_text(report)),
    ]
    if not report.breakdown.is_empty:
        items.append(_section(_daily_text(report)))
    failed = failed_calls_text(report.failed_calls)
    if failed is not None:
        items.append(_context(failed))
    items += [
        _context(_about(report, as_of)),
        ActionsBlock(
            block_id=f"{ids.USAGE_ACTIONS_BLOCK}:message" if posted else ids.USAGE_ACTIONS_BLOCK,
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Refresh"),
                    action_id=ids.USAGE_REFRESH_ACTION,
                    value=ids.encode(ids.UsageTarget(alias=alias, period=report.bounds.period)),
                ),
                *console_buttons(report.application_id, console),
            ],
        ),
    ]
    return blocks(*items)


def _apis_text(report: UsageReport) -> str:
    breakdown = report.breakdown
    if breakdown.is_empty:
        return f"No usage {period_label(report.bounds.period)}."
    lines = [f"*By API* · total {_quantity(breakdown.total, report.application)}"]
    shown = _percents(breakdown.lines)
    for rank, (line, percent) in enumerate(zip(breakdown.lines, shown, strict=True), start=1):
        spent = _quantity(line.amount, report.application)
        if line.api_id is None:
            lines.append(f"*Others* ({line.apis} more APIs) — {spent} ({percent})")
        else:
            lines.append(f"{rank}. *{api_title(line)}* — {spent} ({percent})")
    return "\n".join(lines)


def _daily_text(report: UsageReport) -> str:
    days = report.breakdown.daily
    shown = [(_day(day, report.bounds), _day_amount(spent)) for day, spent in days]
    width = max(len(label) for label, _ in shown)
    figures = max(len(figure) for _, figure in shown)
    rows = "\n".join(f"{label:<{width}}  {figure:>{figures}}" for label, figure in shown)
    zone = escape(report.bounds.zone.key)
    return f"*Per day* ({zone}{_unit_part(report.application)})\n```\n{rows}\n```"


def day_label(day: date) -> str:
    """`Fri 4 Dec`."""
    return f"{day:%a} {day.day} {day:%b}"


def _day(day: date, bounds: PeriodBounds) -> str:
    label = day_label(day)
    return f"{label} (today)" if day == bounds.today else label


def _day_amount(spent: Decimal) -> str:
    return "0" if spent == 0 else amount(spent)


def _about(report: UsageReport, as_of: datetime) -> str:
    bounds = report.bounds
    first, last = bounds.days[0], bounds.days[-1]
    span = (
        f"{day_label(first)} since midnight"
        if first == last
        else f"{day_label(first)} to {day_label(last)}"
    )
    return (
        f"Application `{escape(report.application_id)}` · {span} "
        f"({escape(bounds.zone.key)}) · as of {slack_date(as_of)}"
    )


def failed_calls_text(failed: int | None) -> str | None:
    """The failed calls' line, None when they could not be counted."""
    if failed is None:
        return None
    if failed == 0:
        return "No calls failed in this period."
    calls = "1 call" if failed == 1 else f"{failed:,} calls"
    return f":warning: {calls} failed in this period (answered with HTTP 400 or above)."


def api_title(line: ApiShare) -> str:
    """An API's title (its id when Ace Data Cloud gave none), cut and escaped."""
    return escape(clip(" ".join(line.title.split()) or (line.api_id or "?"), MAX_API_TITLE))


def _percents(lines: Sequence[ApiShare]) -> list[str]:
    """Whole percents adding up to 100; a share too small to round to 1 % says so."""
    wholes = whole_percents([line.share for line in lines])
    return [_percent_text(line.share, whole) for line, whole in zip(lines, wholes, strict=True)]


def _percent_text(share: Decimal, whole: int) -> str:
    return "&lt;1 %" if whole == 0 and share > 0 else f"{whole} %"


def _rounded(share: Decimal) -> int:
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def top_text(top: Sequence[ApiShare]) -> str:
    """A digest line's "top: <API> 62 %, <API> 30 %"."""
    parts = [f"{api_title(line)} {_percent_text(line.share, _rounded(line.share))}" for line in top]
    return "top: " + ", ".join(parts)


def top_this_week(line: ApiShare) -> str:
    """App Home's line under an alias."""
    return f"top this week: {api_title(line)} {_percent_text(line.share, _rounded(line.share))}"


def _quantity(spent: Decimal, application: Application | None) -> str:
    shown = amount(spent)
    return f"{shown} {unit(application)}" if application is not None else shown


def _unit_part(application: Application | None) -> str:
    return f", {unit(application)}" if application is not None else ""


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def usage_alias_gone(alias: str) -> str:
    return (
        f":no_entry: *{escape(alias)}* is not an alias in this channel or workspace any more, so "
        f"its usage cannot be shown here. `/quota list` shows the aliases usable here."
    )


def usage_not_updated(alias: str, problem: str) -> str:
    return (
        f":warning: The usage of *{escape(alias)}* could not be refreshed in place (Slack said "
        f"`{escape(problem)}`). Run `/quota usage {escape(alias)}` for a fresh one."
    )
