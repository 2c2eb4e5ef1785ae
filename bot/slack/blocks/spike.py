"""Spike alerts: the message when an alias spends far faster than usual (how fast, when it runs
out at this rate, where the spend goes, and what to do), its end, and `/quota alert` lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import ValidationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from ...services.spikes import Breakdown, Measure, Share, SpikeNews, SpikeWatch
from .. import ids
from .card import card_buttons
from .format import Blocks, amount, blocks, is_displayable, quantity, slack_date, title, unit
from .messages import paused_because
from .text import clip, escape

_SNOOZES = (("1h", "Snooze 1 h"), ("1d", "Snooze 1 day"))
# Past this a run-out date says nothing useful.
_FAR = timedelta(days=3650)
MAX_KEY_LABEL = 40
TIMES = "\u00d7"  # the multiplication sign, as in "6.2 times its usual rate"


@dataclass(frozen=True)
class SpikeMessage:
    text: str
    blocks: Blocks


def window_length(window: timedelta) -> str:
    """`hour`, `30 minutes`, `6 hours`."""
    minutes = int(window.total_seconds()) // 60
    if minutes == 60:
        return "hour"
    if minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minutes"


def window_text(window: timedelta) -> str:
    """`the last hour`, `the last 30 minutes`, `the last 6 hours`."""
    return f"the last {window_length(window)}"


def _rate(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1')):,}" if is_displayable(value) else "many"


def spike_message(news: SpikeNews, *, console: str | None = None) -> SpikeMessage:
    """The post that starts an episode."""
    watch, snapshot, found = news.watch, news.snapshot, news.measure
    app = snapshot.application
    units = unit(app)
    name = f"*{escape(watch.alias)}* ({escape(title(app))})"
    spent = f"{amount(found.window_amount)} {units} in {window_text(news.window)}"
    rate = found.rate()
    if rate is None:
        headline = f":chart_with_upwards_trend: {name} is spending fast: {spent}, usually nothing."
    else:
        headline = (
            f":chart_with_upwards_trend: {name} is spending {_rate(rate)}{TIMES} its usual rate: "
            f"{spent}, usually {amount(found.usual)}."
        )
    lines = [headline, run_out_text(found, snapshot.application.remaining_amount, news, units)]
    if news.breakdown is not None:
        lines += _top_lines(news.breakdown, units)
    source = "the usage aggregate" if found.source == "aggregate" else "the bot's own readings"
    context = (
        f"Usual: the average per {window_length(news.window)} over the 7 days before today, "
        f"from {source}"
        f" · at least {watch.factor}{TIMES} usual and 1% of the quota counts as a spike"
        f" · as of {slack_date(snapshot.as_of)}"
    )
    return SpikeMessage(
        text=_plain(headline),
        blocks=blocks(
            SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
            ContextBlock(elements=[MarkdownTextObject(text=context)]),
            ActionsBlock(block_id=ids.SPIKE_ACTIONS_BLOCK, elements=spike_buttons(news, console)),
        ),
    )


def run_out_text(found: Measure, remaining: Decimal, news: SpikeNews, units: str) -> str:
    """When the quota runs out at the window's rate."""
    if remaining <= 0:
        return "Its own quota is already used up."
    seconds = remaining / found.window_amount * Decimal(int(news.window.total_seconds()))
    left = f"{amount(remaining)} {units} left"
    if seconds > Decimal(int(_FAR.total_seconds())):
        return f"At this rate its quota ({left}) lasts for years."
    moment = news.snapshot.as_of + timedelta(seconds=float(seconds))
    return (
        f"At this rate its quota ({left}) runs out {slack_date(moment.astimezone(UTC))}, "
        f"in about {_duration(timedelta(seconds=float(seconds)))}."
    )


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def _top_lines(found: Breakdown, units: str) -> list[str]:
    lines = []
    if found.apis:
        lines.append(f"*Top APIs:* {_shares(found.apis, found.total, units)}")
    if found.keys:
        lines.append(f"*Top keys:* {_shares(found.keys, found.total, units)}")
    if lines and found.seen < found.count:
        lines.append(f"_(from the latest {found.seen} of {found.count} calls)_")
    return lines


def _shares(shares: Sequence[Share], total: Decimal, units: str) -> str:
    parts = []
    for share in shares:
        part = f"{escape(clip(share.name, 60))} {amount(share.amount)} {units}"
        if total > 0:
            part += f" ({(share.amount * 100 / total).quantize(Decimal(1))}%)"
        parts.append(part)
    return ", ".join(parts)


def spike_buttons(news: SpikeNews, console: str | None) -> list[ButtonElement]:
    """*Pause key* (the top key), *Disable global fallback* (when on), *Open usage in console*
    and the Snooze buttons."""
    watch, app = news.watch, news.snapshot.application
    buttons = []
    if news.breakdown is not None and news.breakdown.keys:
        pause = _pause_button(watch.alias, app.id, news.breakdown.keys[0])
        buttons += [pause] if pause is not None else []
    if app.allow_consume_global is True:
        # The card's own switch (same handler, same checks and confirm).
        buttons += card_buttons(news.snapshot, watch.alias, toggleable=True)[:1]
    if console is not None:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Open usage in console"),
                action_id=ids.CONSOLE_ACTION,
                url=f"{console}/console/usages?application_id={app.id}",
            )
        )
    for choice, label in _SNOOZES:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text=label),
                action_id=f"{ids.SPIKE_SNOOZE_ACTION}:{choice}",
                value=ids.encode(ids.SpikeSnooze(alias=watch.alias, snooze=choice)),
            )
        )
    return buttons


def _pause_button(alias: str, application_id: str, key: Share) -> ButtonElement | None:
    try:
        target = ids.KeyTarget(alias=alias, application_id=application_id, key_id=key.id)
    except ValidationError:
        return None  # not a key id the bot could act on
    name = clip(key.name, MAX_KEY_LABEL)
    return ButtonElement(
        text=PlainTextObject(text=f"Pause key {name}"),
        action_id=ids.KEY_PAUSE_ACTION,
        value=ids.encode(target),
        style="danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text="Pause this key?"),
            # Plain text: a key's name is shown as it is, never read as mrkdwn (and fits 300).
            text=PlainTextObject(
                text=(
                    f"The key {name} of {alias} will be paused: its expiry is set to now, so Ace "
                    f"Data Cloud refuses its calls until it is resumed with /quota keys {alias}."
                ),
                emoji=False,
            ),
            confirm=PlainTextObject(text="Pause key"),
            deny=PlainTextObject(text="Cancel"),
            style="danger",
        ),
    )


def calm_message(news: SpikeNews) -> SpikeMessage:
    """The reply, in the spike's thread, when the episode ends."""
    found, app = news.measure, news.snapshot.application
    text = (
        f":white_check_mark: *{escape(news.watch.alias)}* is back to normal: "
        f"{amount(found.window_amount)} {unit(app)} in {window_text(news.window)} "
        f"(usually {amount(found.usual)}); {quantity(app)} left."
    )
    return SpikeMessage(
        text=_plain(text), blocks=blocks(SectionBlock(text=MarkdownTextObject(text=text)))
    )


def _plain(text: str) -> str:
    return text.replace("*", "")


def spike_lines(watches: Sequence[SpikeWatch], now: datetime) -> list[str]:
    """This channel's spike watches and their states, for `/quota alert`."""
    lines = []
    for watch in watches:
        if watch.paused_reason:
            state = f"*paused* ({paused_because(watch.paused_reason)})"
        elif watch.state.snoozed(now) and watch.state.snoozed_until is not None:
            state = f"snoozed until {slack_date(watch.state.snoozed_until.astimezone(UTC))}"
        elif watch.state.episode_started_at is not None:
            state = f"spiking since {slack_date(watch.state.episode_started_at.astimezone(UTC))}"
        else:
            state = "watching"
        checked = f" · checked {slack_date(watch.last_checked_at)}" if watch.last_checked_at else ""
        rate = f"spending {watch.factor}{TIMES} its usual rate"
        lines.append(f"• *{escape(watch.alias)}* {rate}: {state}{checked}")
    return lines


def spike_announced(alias: str, factor: Decimal, window: timedelta) -> str:
    """Posted in the channel when a spike watch is set."""
    return (
        f":chart_with_upwards_trend: This channel will be told when *{escape(alias)}* spends at "
        f"least {factor}{TIMES} its usual rate over {window_text(window)} (and at least 1% of its "
        "quota), once per spike, and again when it calms down."
    )


def spike_set(alias: str, factor: Decimal, check_seconds: float) -> str:
    return (
        f":chart_with_upwards_trend: Spike alert set: *{escape(alias)}* at {factor}{TIMES} its "
        f"usual rate. It is checked every {check_seconds:g} s; `/quota alert` lists this channel's "
        "alerts."
    )


def spike_off(alias: str, removed: bool) -> str:
    name = escape(alias)
    if removed:
        return f":no_bell: The spike alert on *{name}* in this channel is off."
    return f":mag: There is no spike alert on *{name}* in this channel; nothing was changed."


def spike_paused(channel_id: str, alias: str, reason: str) -> str:
    """The direct message to whoever set a spike watch that stopped."""
    return (
        f":pause_button: The spike alert on *{escape(alias)}* in <#{channel_id}> is paused: "
        f"{paused_because(reason)}. Once that is fixed, set it again with "
        f"`/quota alert {escape(alias)} spike`."
    )


def spike_snoozed(user_id: str, alias: str, choice: str) -> str:
    how = {"1h": "for an hour", "1d": "for a day"}[choice]
    return (
        f":zzz: <@{user_id}> snoozed the spike alert on *{escape(alias)}* {how}: no new spike "
        "is posted until then."
    )


def spike_snooze_gone(alias: str) -> str:
    return f":mag: There is no spike alert on *{escape(alias)}* in this channel any more."


def spike_snooze_not_visible(alias: str) -> str:
    return (
        f":no_entry: *{escape(alias)}* is not an alias this channel can see, so its spike alert "
        "was not snoozed."
    )
