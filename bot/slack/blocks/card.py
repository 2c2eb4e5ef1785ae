"""The quota card: figures, then Enable/Disable global fallback (when allowed) and Refresh."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ...acedata import Application
from ...services.quota import QuotaSnapshot
from .. import ids
from ..ids import Origin
from .forecast import forecast_text, spark_text
from .format import (
    Blocks,
    amount,
    blocks,
    fallback_state,
    named,
    percent,
    quantity,
    slack_date,
    slack_time,
    title,
    unit,
)
from .text import escape

MAX_HEADER = 150
# A card is read by people in many time zones; its dates are UTC (digests use their own zone).
UTC_ZONE = ZoneInfo("UTC")


def _balance(application: Application | None) -> str:
    return "unavailable" if application is None else quantity(application)


def quota_card(
    snapshot: QuotaSnapshot,
    alias: str | None,
    *,
    origin: Origin = "command",
    toggleable: bool = True,
    console: str | None = None,
) -> Blocks:
    app = snapshot.application
    heading = f"{title(app)} · {alias}" if alias else title(app)
    used = amount(app.used_amount)
    fields = [
        f"*Remaining*\n{quantity(app)}",
        f"*Used*\n{used if used == 'unreadable' else f'{used} {unit(app)}'}",
        f"*Left*\n{percent(snapshot.percent_left)}",
        f"*Global fallback*\n{fallback_text(snapshot)}",
        f"*Global balance*\n{_balance(snapshot.global_balance)}",
    ]
    if snapshot.forecast is not None:
        outlook = forecast_text(
            snapshot.forecast,
            unit=unit(app),
            now=snapshot.as_of,
            zone=UTC_ZONE,
            fallback_on=bool(app.allow_consume_global),
        )
        spark = spark_text(snapshot.forecast)
        fields.append(f"*Burn rate*\n{outlook}" + (f"\n{spark}" if spark else ""))
    context = f"Application `{escape(app.id)}` · as of {slack_date(snapshot.as_of)}"
    if not toggleable:
        context += " · link it to an alias to switch its global fallback from Slack"
    return blocks(
        HeaderBlock(text=PlainTextObject(text=heading[:MAX_HEADER], emoji=False)),
        SectionBlock(fields=[MarkdownTextObject(text=field) for field in fields]),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
        ActionsBlock(
            block_id=ids.actions_block_id(origin),
            elements=card_buttons(snapshot, alias, toggleable=toggleable, console=console),
        ),
    )


def fallback_text(snapshot: QuotaSnapshot) -> str:
    """ON, OFF or unknown; a timed fallback says until when (in each reader's own zone)."""
    state = fallback_state(snapshot.application.allow_consume_global)
    if snapshot.application.allow_consume_global and snapshot.fallback_until is not None:
        return f"{state} until {slack_time(snapshot.fallback_until)}"
    return state


def quota_card_text(snapshot: QuotaSnapshot, alias: str | None) -> str:
    """The notification text that goes with a card."""
    app = snapshot.application
    return f"{escape(alias or title(app))}: {quantity(app)} left"


def console_buttons(application_id: str, console: str | None) -> list[ButtonElement]:
    """*Open in console* (the application's usage) and *Top up* (its packages), when the
    console's address is known."""
    if console is None:
        return []
    return [
        ButtonElement(
            text=PlainTextObject(text="Open in console"),
            action_id=ids.CONSOLE_ACTION,
            url=f"{console}/console/usages?application_id={application_id}",
        ),
        ButtonElement(
            text=PlainTextObject(text="Top up"),
            action_id=ids.TOP_UP_ACTION,
            url=f"{console}/console/applications/{application_id}/extra",
        ),
    ]


def card_buttons(
    snapshot: QuotaSnapshot, alias: str | None, *, toggleable: bool, console: str | None = None
) -> list[ButtonElement]:
    app = snapshot.application
    target = ids.CardTarget(alias=alias, application_id=app.id)
    buttons = []
    if toggleable:
        # An unknown state offers both directions; a known one only the change.
        states = (
            [True, False] if app.allow_consume_global is None else [not app.allow_consume_global]
        )
        buttons = [_toggle_button(snapshot, alias, target, enable) for enable in states]
    refresh = ButtonElement(
        text=PlainTextObject(text="Refresh"),
        action_id=ids.REFRESH_ACTION,
        value=ids.encode(target),
    )
    return [*buttons, refresh, *console_buttons(app.id, console)]


def _toggle_button(
    snapshot: QuotaSnapshot, alias: str | None, target: ids.CardTarget, enable: bool
) -> ButtonElement:
    value = ids.encode(ids.ToggleTarget(**target.model_dump(), enable=enable))
    if enable:
        # Enabling opens a dialog (for how long, and whether approval is needed): its confirm.
        return ButtonElement(
            text=PlainTextObject(text="Enable global fallback"),
            action_id=f"{ids.TOGGLE_ACTION}:enable",
            value=value,
            style="primary",
        )
    name = named(alias, snapshot.application.id)
    return ButtonElement(
        text=PlainTextObject(text="Disable global fallback"),
        action_id=f"{ids.TOGGLE_ACTION}:disable",
        value=value,
        style="danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text="Disable global fallback?"),
            text=MarkdownTextObject(
                text=f"Calls will fail once {name}'s own quota is used up, instead of being "
                "paid from the global balance."
            ),
            confirm=PlainTextObject(text="Disable"),
            deny=PlainTextObject(text="Cancel"),
            style="danger",
        ),
    )
