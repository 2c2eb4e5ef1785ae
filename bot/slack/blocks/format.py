"""Formatting shared by every surface: amounts, dates, outside text cut to Slack's limits."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from ...acedata import Application
from .text import clip, escape

Blocks = list[dict[str, Any]]
MAX_SECTION_CHARS = 2900
MAX_BLOCKS = 50
# Outside text (a service's title or unit) is cut so that no message can exceed Slack's limits
# however long it is: a confirm dialog's text, for one, allows 300 characters.
MAX_TITLE = 80
MAX_UNIT = 20
UNREADABLE = "unreadable"

# Wide enough for any amount shown; larger magnitudes read as unreadable rather than as a
# hundred-digit number nobody can use.
_WIDE = Context(prec=60, rounding=ROUND_HALF_UP)
_LARGEST_EXPONENT = 30


def is_displayable(value: Decimal) -> bool:
    # adjusted() reads the exponent without arithmetic, which could overflow on 1e999999999.
    return value.is_finite() and value.adjusted() < _LARGEST_EXPONENT


def amount(value: Decimal) -> str:
    """Two decimals with thousands separators: 493.2210000000001 → 493.22; `unreadable` for
    infinities, NaN and absurd magnitudes."""
    if not is_displayable(value):
        return UNREADABLE
    return f"{value.quantize(Decimal('0.01'), context=_WIDE):,}"


def percent(value: Decimal | None) -> str:
    if value is None or not is_displayable(value):
        return "n/a"
    return f"{value.quantize(Decimal('0.1'), context=_WIDE)}%"


def slack_date(moment: datetime) -> str:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def slack_time(moment: datetime) -> str:
    """A time of day (with the date when not today) every reader sees in their own zone."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{time}} {{date_short_pretty}}|{fallback}>"


def title(application: Application) -> str:
    """The service's title, cut to a length every surface can hold (not escaped)."""
    return clip(application.title, MAX_TITLE)


def unit(application: Application) -> str:
    """The amount unit, cut and escaped for mrkdwn."""
    return escape(clip(application.unit, MAX_UNIT))


def quantity(application: Application) -> str:
    """`493.22 Credits`, or `unreadable` alone when the amount cannot be shown."""
    shown = amount(application.remaining_amount)
    return shown if shown == UNREADABLE else f"{shown} {unit(application)}"


def named(alias: str | None, application_id: str) -> str:
    """How a message names its target: the alias in bold, else the application ID as code."""
    return f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"


def fallback_state(allow: bool | None) -> str:
    return {True: "ON", False: "OFF", None: "unknown"}[allow]


def blocks(*items: Any) -> Blocks:
    return [item.to_dict() for item in items]
