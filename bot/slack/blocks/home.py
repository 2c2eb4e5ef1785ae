"""The App Home tab: for admins the token status, the aliases with their quota, digests, alerts,
admins and recent changes; for members the workspace's aliases and the help.

Every list is bounded so that the view stays within Slack's 100 blocks and 3,000 characters per
section, whatever the workspace holds; what does not fit is counted in a line saying where to
see it, never dropped in silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from ...acedata import AceDataError, Application
from ...services.aliases import LinkedAlias
from ...services.digests import DigestSetup
from ...services.home import (
    AdminHome,
    AliasReading,
    GuardRails,
    HomeAlert,
    MemberHome,
    TokenStatus,
)
from ...services.keys import PausedKey
from .. import ids
from .alert import threshold_text
from .approval import duration_phrase
from .breakdown import top_this_week
from .card import UTC_ZONE
from .forecast import forecast_text
from .format import (
    MAX_SECTION_CHARS,
    fallback_state,
    named,
    percent,
    quantity,
    slack_date,
    title,
    unit,
)
from .lists import admins_text, audit_list, help_blocks
from .messages import paused_because, upstream_problem
from .text import clip, escape

# A block as a builder or as the dict a shared builder returns; the view takes both.
Item = Block | dict[str, Any]

MAX_VIEW_BLOCKS = 100
# Aliases an admin's Home reads the quota of (the first, by name): every opening of the tab
# reads them, so they are few; the others are listed without it.
HOME_READ_LIMIT = 25
# Sections each list may take; lines that do not fit are counted in a "more" line.
ALIAS_SECTIONS = 8
LIST_SECTIONS = 2
MAX_LISTED_ADMINS = 40
MAX_PROBLEM = 200
HOME_UNAVAILABLE_DATABASE = (
    ":warning: Quota Bot can't reach its database right now, so this page can't be shown. "
    "Open the tab again in a minute."
)
HOME_UNAVAILABLE = (
    ":x: Something went wrong on our side while preparing this page. It has been logged; open "
    "the tab again in a minute."
)


def admin_home_view(home: AdminHome, *, version: str | None = None) -> dict[str, Any]:
    """An admin's Home: token status first, then the aliases, digests, alerts, admins, audit;
    the footer names the running version (for admins only)."""
    items: list[Item] = [
        HeaderBlock(text=PlainTextObject(text="Quota Bot for Ace Data Cloud", emoji=False)),
        _token_section(home.token),
        DividerBlock(),
        *_quota_list(home),
        DividerBlock(),
        *_digest_list(home.digests),
        DividerBlock(),
        *_alert_list(home.alerts),
        DividerBlock(),
        *_paused_keys(home.paused_keys, home.aliases),
        DividerBlock(),
        *_guard_rails(home.guard),
        DividerBlock(),
        *_admins(home.admins),
        DividerBlock(),
        *audit_list(home.audit, None),
        _context("`/quota help` in any channel lists every command."),
    ]
    if version is not None:
        items.append(_context(f"Quota Bot {escape(version)}"))
    return _view(items)


def member_home_view(home: MemberHome, *, role_unknown: bool = False) -> dict[str, Any]:
    """A member's Home: the workspace-wide aliases, how many more are channel-only, and the
    help."""
    items: list[Item] = [
        HeaderBlock(text=PlainTextObject(text="Quota Bot for Ace Data Cloud", emoji=False)),
        _section(
            "Look up an application's Ace Data Cloud quota with `/quota &lt;alias&gt;` in a "
            "channel; `/quota` alone lists the aliases usable there."
        ),
    ]
    if role_unknown:
        items.append(
            _context(
                ":hourglass: Slack could not confirm your role just now, so admin details are "
                "not shown. Open the tab again in a moment."
            )
        )
    items += [DividerBlock(), *_alias_names(home.aliases)]
    if home.channel_aliases:
        items.append(
            _context(
                f"{home.channel_aliases} more linked to single channels: `/quota list` in a "
                "channel shows the aliases usable there."
            )
        )
    items += [DividerBlock(), *help_blocks()]
    return _view(items)


def home_problem_view(text: str) -> dict[str, Any]:
    """The Home when it cannot be prepared: what went wrong, in a sentence."""
    return _view(
        [
            HeaderBlock(text=PlainTextObject(text="Quota Bot for Ace Data Cloud", emoji=False)),
            _section(text),
        ]
    )


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something (a Home button has no channel to answer in)."""
    return View(
        type="modal",
        title=PlainTextObject(text="Quota Bot"),
        close=PlainTextObject(text="Close"),
        blocks=[_section(text)],
    ).to_dict()


# --- token ---------------------------------------------------------------------------------


def _token_section(token: TokenStatus) -> SectionBlock:
    label = "Set token"
    match token.source:
        case "workspace":
            account = escape(clip(token.account or "unknown", 80))
            text = (
                f":key: *Ace Data Cloud token:* set for the account *{account}*, ending in "
                f"`{escape(token.last4 or '????')}`"
            )
            if token.set_by:
                text += f", by <@{escape(token.set_by)}>"
            if token.set_at:
                text += f" {slack_date(token.set_at)}"
            text += "."
            label = "Replace token"
        case "unreadable":
            text = (
                ":key: *Ace Data Cloud token:* stored, but it can't be read with the current "
                "encryption key. Set it again, or ask the operator to restore the old key "
                "(`ENCRYPTION_KEY=new,old`)."
            )
        case "operator":
            text = (
                ":key: *Ace Data Cloud token:* not set for this workspace; quotas are read with "
                "the operator's token (`ACEDATA_PLATFORM_TOKEN`)."
            )
        case _:
            text = (
                ":key: *Ace Data Cloud token:* not set. Quotas can't be read until an admin "
                "sets one; it is checked, stored encrypted, and never shown again."
            )
    button = ButtonElement(
        text=PlainTextObject(text=label),
        action_id=ids.HOME_TOKEN_ACTION,
        style=None if token.source == "workspace" else "primary",
    )
    return SectionBlock(text=MarkdownTextObject(text=text), accessory=button)


# --- aliases -------------------------------------------------------------------------------


def _where(alias: LinkedAlias) -> str:
    return "workspace-wide" if alias.is_workspace_wide else f"<#{escape(alias.channel_id or '')}>"


def _quota_list(home: AdminHome) -> list[Item]:
    total = len(home.aliases)
    if not total:
        return [
            _section(
                "*Aliases*\nNone yet. `/quota link &lt;alias&gt; &lt;application-id&gt;` in a "
                "channel links one there (add `--workspace` for the whole workspace)."
            )
        ]
    head = f"*Aliases* ({total})"
    balance = _any_global_balance(home.readings)
    if balance is not None:
        head += f" · global balance {quantity(balance)}"
    items: list[Item] = [_section(head)]
    if home.token.source in {"none", "unreadable"}:
        items.append(_context("Quotas are not shown: the workspace has no readable token."))
    unread = home.unread
    read_lines = [_reading_line(reading) for reading in home.readings]
    sections, shown = _pack(read_lines, ALIAS_SECTIONS)
    items += sections
    rest = unread
    if shown < len(read_lines):  # cannot happen with HOME_READ_LIMIT; counted all the same
        rest = [reading.alias for reading in home.readings[shown:]] + unread
    if rest:
        items.append(
            _context(
                f"The other {len(rest)} are not read here: `/quota list` in a channel shows "
                "their quota, `/quota &lt;alias&gt;` the full card."
            )
        )
        sections, listed = _pack([_name_line(alias) for alias in rest], ALIAS_SECTIONS)
        items += sections
        if listed < len(rest):
            items.append(_more(len(rest) - listed, "use `/quota list` in a channel"))
    return items


def _reading_line(reading: AliasReading) -> str:
    alias = reading.alias
    head = f"• *{escape(alias.name)}* · {_where(alias)}"
    snapshot = reading.snapshot
    if snapshot is None:
        target = f"`{escape(alias.application_id)}`"
        if reading.error is None:
            return f"{head} → {target}"
        return f"{head} → {target}: *unavailable* — {_problem(reading)}"
    app = snapshot.application
    line = f"{head} — {escape(title(app))}: {quantity(app)} left"
    if snapshot.percent_left is not None:
        line += f" ({percent(snapshot.percent_left)})"
    details = []
    if snapshot.forecast is not None:
        details.append(
            forecast_text(
                snapshot.forecast,
                unit=unit(app),
                now=snapshot.as_of,
                zone=UTC_ZONE,
                fallback_on=app.allow_consume_global is True,
            )
        )
    details.append(f"global fallback {fallback_state(app.allow_consume_global)}")
    line = f"{line}\n      {' · '.join(details)}"
    if reading.top is not None:
        line += f"\n      {top_this_week(reading.top)}"
    return line


def _problem(reading: AliasReading) -> str:
    if isinstance(reading.error, AceDataError):
        text = upstream_problem(
            reading.error, application_id=reading.alias.application_id, alias=reading.alias.name
        ).removeprefix(":warning: ")
    else:
        text = "it could not be read just now."
    return clip(" ".join(text.split()), MAX_PROBLEM)


def _name_line(alias: LinkedAlias) -> str:
    return f"• *{escape(alias.name)}* · {_where(alias)} → `{escape(alias.application_id)}`"


def _alias_names(aliases: Sequence[LinkedAlias]) -> list[Item]:
    if not aliases:
        return [
            _section(
                "*Aliases*\nNone are linked yet. A bot admin can link one with "
                "`/quota link &lt;alias&gt; &lt;application-id&gt;`."
            )
        ]
    sections, shown = _pack([_name_line(alias) for alias in aliases], ALIAS_SECTIONS)
    items: list[Item] = [_section(f"*Aliases in this workspace* ({len(aliases)})"), *sections]
    if shown < len(aliases):
        items.append(_more(len(aliases) - shown, "use `/quota list` in a channel"))
    return items


def _any_global_balance(readings: Sequence[AliasReading]) -> Application | None:
    for reading in readings:
        if reading.snapshot is not None and reading.snapshot.global_balance is not None:
            return reading.snapshot.global_balance
    return None


# --- digests, alerts, admins, audit ----------------------------------------------------------


def _digest_list(digests: Sequence[DigestSetup]) -> list[Item]:
    if not digests:
        return [
            _section(
                "*Digests*\nNone. `/quota digest daily 09:00 Europe/Berlin` in a channel "
                "schedules one there."
            )
        ]
    lines = []
    for setup in digests:
        line = f"• <#{escape(setup.channel_id)}> — {escape(setup.schedule.describe())}"
        if setup.paused_reason:
            line += f" · *paused* ({paused_because(setup.paused_reason)})"
        else:
            line += f" · next {slack_date(setup.next_run_at)}"
        lines.append(line)
    return _bounded_list(
        f"*Digests* ({len(digests)})", lines, "`/quota digest` in a channel shows its digest"
    )


def _alert_list(alerts: Sequence[HomeAlert]) -> list[Item]:
    if not alerts:
        return [
            _section(
                "*Alerts*\nNone. `/quota alert &lt;alias&gt; below 10%` in a channel tells it "
                "before the alias runs out."
            )
        ]
    lines = []
    for alert in alerts:
        watch = alert.watch
        line = (
            f"• *{escape(watch.alias)}* in <#{escape(watch.channel_id)}> below "
            f"{threshold_text(watch.threshold)}: {watch.state.said.name.lower()}"
        )
        if alert.paused_reason:
            line += f" · *paused* ({paused_because(alert.paused_reason)})"
        elif watch.state.until_recovered:
            line += " · snoozed until recovered"
        elif watch.state.snoozed_until is not None:
            line += f" · snoozed until {slack_date(watch.state.snoozed_until)}"
        lines.append(line)
    return _bounded_list(
        f"*Alerts* ({len(alerts)})", lines, "`/quota alert` in a channel lists its alerts"
    )


def _paused_keys(paused: Sequence[PausedKey], aliases: Sequence[LinkedAlias]) -> list[Item]:
    if not paused:
        return [
            _section(
                "*Keys paused by Quota Bot*\nNone. `/quota keys &lt;alias&gt;` in a channel lists "
                "an alias's API keys, to cap, pause or resume one."
            )
        ]
    names: dict[str, list[str]] = {}
    for alias in aliases:
        names.setdefault(alias.application_id, []).append(alias.name)
    lines = []
    for key in paused:
        of = names.get(key.application_id)
        where = (
            f"*{escape(', '.join(sorted(set(of))[:3]))}*"
            if of
            else f"application `{escape(key.application_id)}`"
        )
        name = escape(clip(key.key_name or key.key_id, 100))
        lines.append(
            f"• *{name}* of {where} · paused by <@{escape(key.paused_by)}> "
            f"{slack_date(key.paused_at)}"
        )
    return _bounded_list(
        f"*Keys paused by Quota Bot* ({len(paused)})",
        lines,
        "`/quota keys &lt;alias&gt;` in a channel resumes one",
    )


def _guard_rails(guard: GuardRails | None) -> list[Item]:
    """The approval policy, fallbacks on for a while, and requests waiting for an admin."""
    if guard is None:
        return []
    policy = (
        "*Global fallback*\nTwo-person approval is *on*: enabling needs a second admin "
        "(`/quota policy approval off` to stop)."
        if guard.approval_required
        else "*Global fallback*\nTwo-person approval is *off* (`/quota policy approval on` to "
        "require a second admin for enabling)."
    )
    lines = [
        f"• {named(timer.where.alias, timer.application_id)} ON until "
        f"{slack_date(timer.off_at)} · set by <@{escape(timer.set_by)}>"
        for timer in guard.timers
    ] + [
        f"• :raised_hand: {named(request.alias, request.application_id)} "
        f"{duration_phrase(request.duration)} · asked by <@{escape(request.requester_id)}> in "
        f"<#{escape(request.channel_id)}> · expires {slack_date(request.expires_at)}"
        for request in guard.waiting
    ]
    if not lines:
        return [_section(policy)]
    return [_section(policy), *_bounded_list("*Timed and waiting*", lines, "`/quota policy`")]


def _admins(listed: Sequence[str]) -> list[Item]:
    text = admins_text(listed[:MAX_LISTED_ADMINS])
    if len(listed) > MAX_LISTED_ADMINS:
        text += f" ({len(listed) - MAX_LISTED_ADMINS} more listed: `/quota admins` shows all.)"
    return [_section(f"*Admins*\n{text}")]


def _bounded_list(head: str, lines: Sequence[str], hint: str) -> list[Item]:
    sections, shown = _pack(lines, LIST_SECTIONS)
    items: list[Item] = [_section(head), *sections]
    if shown < len(lines):
        items.append(_more(len(lines) - shown, hint))
    return items


# --- shared --------------------------------------------------------------------------------


def _pack(lines: Sequence[str], max_sections: int) -> tuple[list[SectionBlock], int]:
    """Lines packed into at most `max_sections` sections within Slack's text limit, and how
    many of the lines fitted."""
    chunks: list[str] = []
    shown = 0
    for line in lines:
        line = clip(line, MAX_SECTION_CHARS)
        if chunks and len(chunks[-1]) + len(line) + 1 <= MAX_SECTION_CHARS:
            chunks[-1] += "\n" + line
        elif len(chunks) < max_sections:
            chunks.append(line)
        else:
            break
        shown += 1
    return [_section(chunk) for chunk in chunks], shown


def _more(count: int, hint: str) -> ContextBlock:
    return _context(f"…and {count} more; {hint}.")


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _view(items: list[Item]) -> dict[str, Any]:
    if len(items) > MAX_VIEW_BLOCKS:  # a safety net: the lists above are bounded
        kept = items[: MAX_VIEW_BLOCKS - 1]
        items = [*kept, _context(f"{len(items) - len(kept)} more blocks are not shown.")]
    return View(type="home", blocks=items).to_dict()
