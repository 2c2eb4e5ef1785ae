"""Alert messages: what changed, what it means for calls, and Snooze buttons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ...services.alert_levels import Level, Threshold
from ...services.alerts import Impact, Watch
from ...services.quota import QuotaSnapshot
from ...services.spikes import SpikeWatch
from .. import ids
from .card import card_buttons, console_buttons
from .forecast import forecast_text
from .format import Blocks, amount, blocks, percent, quantity, slack_date, title, unit
from .messages import paused_because
from .spike import spike_lines
from .text import escape

_SNOOZES = (("1h", "Snooze 1 h"), ("1d", "Snooze 1 day"), ("recovered", "Snooze until recovered"))
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class AlertMessage:
    text: str
    blocks: Blocks


def threshold_text(threshold: Threshold, unit_text: str = "Credits") -> str:
    if threshold.kind == "percent":
        return f"{percent(threshold.value)} left"
    return f"{amount(threshold.value)} {unit_text}"


def alert_message(
    alias: str,
    level: Level,
    snapshot: QuotaSnapshot,
    threshold: Threshold,
    *,
    console: str | None = None,
    impact: Impact | None = None,
) -> AlertMessage:
    """The post for an alert that got worse: `level` is what the quota is now; `impact`, once
    it ran out, the calls failed since (the message is updated with it)."""
    app = snapshot.application
    fallback_on = bool(app.allow_consume_global)
    headline = _headline(alias, level, snapshot, threshold)
    section = headline if impact is None else f"{headline}\n{impact_text(impact, snapshot.as_of)}"
    details = [f"Remaining {quantity(app)} · {percent(snapshot.percent_left)} left"]
    if snapshot.forecast is not None:
        details.append(
            forecast_text(
                snapshot.forecast,
                unit=unit(app),
                now=snapshot.as_of,
                zone=_UTC,
                fallback_on=fallback_on,
            )
        )
    if snapshot.global_balance is not None:
        details.append(f"global balance {quantity(snapshot.global_balance)}")
    buttons = [_snooze_button(alias, choice, label) for choice, label in _SNOOZES]
    if level == Level.FAILING and not fallback_on:
        # The card's own switch (same handler, same checks), first.
        buttons = [*card_buttons(snapshot, alias, toggleable=True)[:1], *buttons]
    buttons += console_buttons(app.id, console)
    context = " · ".join(details) + f" · as of {slack_date(snapshot.as_of)}"
    return AlertMessage(
        text=_plain(headline),
        blocks=blocks(
            SectionBlock(text=MarkdownTextObject(text=section)),
            ContextBlock(elements=[MarkdownTextObject(text=context)]),
            ActionsBlock(block_id=ids.ALERT_ACTIONS_BLOCK, elements=buttons),
        ),
    )


def impact_text(impact: Impact, now: datetime) -> str:
    """ "41 calls have failed since it ran out at 14:02"."""
    since = impact.since.astimezone(UTC)
    if since.date() == now.astimezone(UTC).date():
        when = f"<!date^{int(since.timestamp())}^{{time}}|{since:%H:%M} UTC>"
    else:
        when = slack_date(since)
    count = impact.failed_calls
    calls = {0: "No calls have", 1: "1 call has"}.get(count, f"{count:,} calls have")
    return f":x: {calls} failed since it ran out at {when}."


def _headline(alias: str, level: Level, snapshot: QuotaSnapshot, threshold: Threshold) -> str:
    app = snapshot.application
    name = f"*{escape(alias)}*"
    service = escape(title(app))
    match level:
        case Level.EXHAUSTED:
            return (
                f":rotating_light: {name} ({service}) has used up its own quota. Calls are now "
                "paid from the global balance."
            )
        case Level.FAILING if app.allow_consume_global:
            return (
                f"<!here> :rotating_light: {name} ({service}) has used up its quota and the "
                "global balance is empty too: calls now fail."
            )
        case Level.FAILING:
            return (
                f"<!here> :rotating_light: {name} ({service}) has used up its quota and global "
                "fallback is OFF: calls now fail."
            )
        case Level.LOW:
            return (
                f":warning: {name} ({service}) is below its alert threshold "
                f"({threshold_text(threshold, unit(app))}): {quantity(app)} left."
            )
    return f":hourglass: {name} ({service}) is on course to run out within a day."


def recovered_message(alias: str, snapshot: QuotaSnapshot) -> AlertMessage:
    app = snapshot.application
    text = (
        f":white_check_mark: *{escape(alias)}* is back: {quantity(app)} left. The alert is "
        "armed again."
    )
    return AlertMessage(
        text=_plain(text), blocks=blocks(SectionBlock(text=MarkdownTextObject(text=text)))
    )


def _snooze_button(alias: str, choice: str, label: str) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=label),
        action_id=f"{ids.SNOOZE_ACTION}:{choice}",
        value=ids.encode(ids.SnoozeChoice(alias=alias, snooze=choice)),
    )


def _plain(text: str) -> str:
    return text.replace("*", "")


def alert_list(watches: Sequence[Watch], now: datetime, spikes: Sequence[SpikeWatch] = ()) -> str:
    """This channel's alerts (low-quota and spike) and their states, for `/quota alert`."""
    if not watches and not spikes:
        return (
            ":bell: No alerts in this channel. An admin can add one with "
            "`/quota alert prod below 100`, `/quota alert prod below 10%` or "
            "`/quota alert prod spike`."
        )
    lines = [f":bell: *Alerts here* ({len(watches) + len(spikes)})"]
    for watch in watches:
        state = watch.state.said.name.lower()
        snooze = ""
        if watch.paused_reason:
            snooze = f" · *paused* ({paused_because(watch.paused_reason)})"
        elif watch.state.until_recovered:
            snooze = " · snoozed until recovered"
        elif watch.state.snoozed_until is not None and watch.state.snoozed_until > now:
            snooze = f" · snoozed until {slack_date(watch.state.snoozed_until.astimezone(UTC))}"
        checked = f" · checked {slack_date(watch.last_checked_at)}" if watch.last_checked_at else ""
        lines.append(
            f"• *{escape(watch.alias)}* below {threshold_text(watch.threshold)}: {state}"
            f"{snooze}{checked}"
        )
    return "\n".join([*lines, *spike_lines(spikes, now)])


def snooze_gone(alias: str) -> str:
    return f":mag: There is no alert on *{escape(alias)}* in this channel any more."


def snoozed(user_id: str, alias: str, choice: str) -> str:
    how = {"1h": "for an hour", "1d": "for a day", "recovered": "until it recovers"}[choice]
    return (
        f":zzz: <@{user_id}> snoozed the alert on *{escape(alias)}* {how}. If it gets worse "
        "(runs out), the channel is still told."
    )


def alert_announced(alias: str, threshold: Threshold) -> str:
    """Posted in the channel before an alert is saved."""
    return (
        f":bell: This channel will be told when *{escape(alias)}* drops below "
        f"{threshold_text(threshold)}, runs out within a day, or runs out."
    )


def alert_set(alias: str, threshold: Threshold, every_seconds: float) -> str:
    return (
        f":bell: Alert set: *{escape(alias)}* below {threshold_text(threshold)}. It is checked "
        f"every {every_seconds:g} s; `/quota alert` lists this channel's alerts."
    )


def alert_removed(alias: str, removed: bool) -> str:
    if removed:
        return f":no_bell: The alert on *{escape(alias)}* in this channel is off."
    return f":mag: There is no alert on *{escape(alias)}* in this channel; nothing was changed."
