"""Every message and view the bot shows, as pure functions: data in, Block Kit out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from ..acedata import (
    AceDataError,
    Application,
    InvalidToken,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamTimeout,
)
from ..db.models import AuditEvent
from ..services.quota import QuotaSnapshot
from . import card_values
from .card_values import Origin
from .parsing import USAGE
from .text import escape

Blocks = list[dict[str, Any]]
MAX_SECTION_CHARS = 2900
MAX_BLOCKS = 50

TOKEN_MODAL_CALLBACK = "quota_token_modal"
TOKEN_BLOCK = "token"
TOKEN_ACTION = "token_input"
TOKEN_CONSOLE_URL = "https://platform.acedata.cloud/console/platform-tokens"


# Wide enough for any amount an API could send; the default 28 digits raise on 1e26.
_WIDE = Context(prec=100, rounding=ROUND_HALF_UP)


def amount(value: Decimal) -> str:
    """Two decimals with thousands separators: 493.2210000000001 → 493.22."""
    return f"{value.quantize(Decimal('0.01'), context=_WIDE):,}"


def percent(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal('0.1'), context=_WIDE)}%"


def slack_date(moment: datetime) -> str:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _blocks(*items: Any) -> Blocks:
    return [item.to_dict() for item in items]


def fallback_state(allow: bool | None) -> str:
    return {True: "ON", False: "OFF", None: "unknown"}[allow]


def _balance(application: Application | None) -> str:
    if application is None:
        return "unavailable"
    return f"{amount(application.remaining_amount)} {escape(application.unit)}"


def quota_card(
    snapshot: QuotaSnapshot,
    alias: str | None,
    *,
    origin: Origin = "command",
    toggleable: bool = True,
) -> Blocks:
    """The card: figures, then Enable/Disable global fallback (when `toggleable`) and Refresh."""
    app = snapshot.application
    title = f"{app.title} · {alias}" if alias else app.title
    unit = escape(app.unit)
    fields = [
        f"*Remaining*\n{amount(app.remaining_amount)} {unit}",
        f"*Used*\n{amount(app.used_amount)} {unit}",
        f"*Left*\n{percent(snapshot.percent_left)}",
        f"*Global fallback*\n{fallback_state(app.allow_consume_global)}",
        f"*Global balance*\n{_balance(snapshot.global_balance)}",
    ]
    context = f"Application `{escape(app.id)}` · as of {slack_date(snapshot.as_of)}"
    if not toggleable:
        context += " · link it to an alias to switch its global fallback from Slack"
    return _blocks(
        HeaderBlock(text=PlainTextObject(text=title[:150], emoji=False)),
        SectionBlock(fields=[MarkdownTextObject(text=field) for field in fields]),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
        ActionsBlock(
            block_id=card_values.actions_block_id(origin),
            elements=_card_buttons(snapshot, alias, toggleable=toggleable),
        ),
    )


def _card_buttons(
    snapshot: QuotaSnapshot, alias: str | None, *, toggleable: bool
) -> list[ButtonElement]:
    app = snapshot.application
    target = card_values.CardTarget(alias=alias, application_id=app.id)
    buttons = []
    if toggleable:
        # An unknown state offers both directions; a known one only the change.
        states = (
            [True, False] if app.allow_consume_global is None else [not app.allow_consume_global]
        )
        buttons = [_toggle_button(snapshot, alias, target, enable) for enable in states]
    refresh = ButtonElement(
        text=PlainTextObject(text="Refresh"),
        action_id=card_values.REFRESH_ACTION,
        value=card_values.encode(target),
    )
    return [*buttons, refresh]


def _toggle_button(
    snapshot: QuotaSnapshot, alias: str | None, target: card_values.CardTarget, enable: bool
) -> ButtonElement:
    verb = "Enable" if enable else "Disable"
    name = f"*{escape(alias)}*" if alias else f"`{escape(snapshot.application.id)}`"
    if enable:
        consequence = (
            f"When {name}'s own quota runs out, calls will be paid from the global balance "
            f"({_balance(snapshot.global_balance)} left)."
        )
    else:
        consequence = (
            f"Calls will fail once {name}'s own quota is used up, instead of being paid from the "
            "global balance."
        )
    value = card_values.ToggleTarget(**target.model_dump(), enable=enable)
    return ButtonElement(
        text=PlainTextObject(text=f"{verb} global fallback"),
        action_id=f"{card_values.TOGGLE_ACTION}:{'enable' if enable else 'disable'}",
        value=card_values.encode(value),
        style="primary" if enable else "danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text=f"{verb} global fallback?"),
            text=MarkdownTextObject(text=consequence),
            confirm=PlainTextObject(text=verb),
            deny=PlainTextObject(text="Cancel"),
            style="primary" if enable else "danger",
        ),
    )


def quota_card_text(snapshot: QuotaSnapshot, alias: str | None) -> str:
    """The notification text that goes with a card."""
    app = snapshot.application
    name = escape(alias or app.title)
    return f"{name}: {amount(app.remaining_amount)} {escape(app.unit)} left"


@dataclass(frozen=True)
class AliasLine:
    name: str
    workspace_wide: bool
    application_id: str
    application: Application | None
    problem: str | None


def alias_list(lines: Sequence[AliasLine], *, token_missing: bool) -> Blocks:
    if not lines:
        return _blocks(
            SectionBlock(
                text=MarkdownTextObject(
                    text="No aliases are linked in this channel or workspace yet. An admin can "
                    f"add one with `{USAGE['link']}`."
                )
            )
        )
    header = f"*Aliases here* ({len(lines)})"
    notes = []
    if token_missing:
        notes.append(
            "No Ace Data Cloud token is set, so quotas are not shown: an admin can set one with "
            "`/quota token`."
        )
    notes.append("`/quota &lt;alias&gt;` shows the full card.")
    items: list[Any] = [SectionBlock(text=MarkdownTextObject(text=header))]
    items += _sections([_alias_line(line) for line in lines])
    items = items[: MAX_BLOCKS - 1]
    items.append(ContextBlock(elements=[MarkdownTextObject(text=" ".join(notes))]))
    return _blocks(*items)


def _alias_line(line: AliasLine) -> str:
    scope = "workspace" if line.workspace_wide else "channel"
    head = f"• *{escape(line.name)}* ({scope})"
    if line.application is not None:
        app = line.application
        return (
            f"{head} — {escape(app.title)}: {amount(app.remaining_amount)} {escape(app.unit)} left"
        )
    if line.problem is not None:
        return f"{head} — `{escape(line.application_id)}`: {line.problem}"
    return f"{head} — `{escape(line.application_id)}`"


NO_TOKEN = (
    ":key: No Ace Data Cloud token is set for this workspace yet. An admin can set one with "
    "`/quota token`."
)
OTHER_WORKSPACE = (
    ":no_entry: This Quota Bot is installed for another Slack workspace, so it cannot answer "
    "here; nothing was done."
)
INTERNAL_ERROR = (
    ":x: Something went wrong on our side; nothing was changed. It has been logged — please try "
    "again."
)


def not_admin(action: str) -> str:
    return (
        f":no_entry: Only bot admins can {action}. Slack workspace admins and owners are bot "
        "admins; they can add others with `/quota admins add @user`."
    )


def not_available_yet(feature: str) -> str:
    return (
        f":construction: `/quota {feature}` is not available yet. Type `/quota help` for what "
        "works today."
    )


def alias_not_found(name: str, workspace: bool | None, other_scope: bool) -> str:
    """`workspace` None: a lookup; True/False: an unlink aimed at that scope."""
    name = escape(name)
    if workspace is None:
        return (
            f":mag: There is no alias *{name}* here. `/quota list` shows the aliases you can use; "
            f"an admin can add one with `/quota link {name} &lt;application-id&gt;`."
        )
    scope = "workspace" if workspace else "channel"
    hint = ""
    if other_scope:
        hint = (
            f" There is a channel alias *{name}* here: drop `--workspace`."
            if workspace
            else f" There is a workspace alias *{name}*: add `--workspace` to remove it."
        )
    return f":mag: There is no {scope} alias *{name}*; nothing was changed.{hint}"


def usage_error(problem: str, usage: str | None) -> str:
    text = f":warning: {problem}"
    if usage:
        text += f"\nUsage: `{usage}`"
    return text + "\nType `/quota help` for every command."


def help_blocks() -> Blocks:
    lines = [
        f"`{USAGE['list']}` or `/quota` — every alias visible here, with remaining quota",
        f"`{USAGE['quota']}` — the quota card for one alias",
        "`/quota &lt;application-id&gt;` — the card for a raw application ID (admins)",
        f"`{USAGE['link']}` — link an alias in this channel (or the whole workspace) (admins)",
        f"`{USAGE['unlink']}` — remove an alias (admins)",
        f"`{USAGE['token']}` — set the workspace's Ace Data Cloud platform token (admins)",
        f"`{USAGE['admins']}` — list, add or remove bot admins (changes: admins)",
        f"`{USAGE['audit']}` — the last 20 changes and fallback switches (admins)",
        f"`{USAGE['help']}` — this help",
    ]
    return _blocks(
        SectionBlock(text=MarkdownTextObject(text="*Quota Bot for Ace Data Cloud*")),
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Aliases are 1 to 32 characters of a-z, 0-9, `-`, `_`, `.`, starting "
                    "with a letter or digit. A channel alias shadows a workspace alias of the "
                    "same name. Admins are Slack workspace admins and owners, plus the users "
                    "listed by `/quota admins`."
                )
            ]
        ),
    )


def admins_text(listed: Sequence[str]) -> str:
    if not listed:
        people = "No extra bot admins are listed."
    else:
        people = "Bot admins: " + ", ".join(f"<@{user_id}>" for user_id in listed) + "."
    return (
        f"{people} Slack workspace admins and owners are always bot admins. "
        f"Change the list with `{USAGE['admins']}`."
    )


def token_modal() -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=TOKEN_MODAL_CALLBACK,
        title=PlainTextObject(text="Ace Data Cloud token"),
        submit=PlainTextObject(text="Check and save"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text="Paste the workspace's *account (platform) token* from "
                    f"<{TOKEN_CONSOLE_URL}|the Ace Data Cloud console>. It is checked with Ace "
                    "Data Cloud, stored encrypted, and never shown again."
                )
            ),
            InputBlock(
                block_id=TOKEN_BLOCK,
                label=PlainTextObject(text="Platform token"),
                element=PlainTextInputElement(
                    action_id=TOKEN_ACTION,
                    placeholder=PlainTextObject(text="platform-v1-…"),
                    max_length=200,
                ),
            ),
        ],
    ).to_dict()


def token_saved_view(last4: str, account: str) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=TOKEN_MODAL_CALLBACK + "_done",
        title=PlainTextObject(text="Ace Data Cloud token"),
        close=PlainTextObject(text="Done"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":white_check_mark: Saved the token ending in `{escape(last4)}` for "
                    f"the Ace Data Cloud account *{escape(account)}*."
                )
            )
        ],
    ).to_dict()


def upstream_problem(error: AceDataError, *, application_id: str, alias: str | None) -> str:
    """One sentence for each way Ace Data Cloud can fail, with its own words where it gave any."""
    target = f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"
    said = f" Ace Data Cloud said: “{escape(error.message)}”." if error.status_code else ""
    trace = f" (trace id `{escape(error.trace_id)}`)" if error.trace_id else ""
    match error:
        case InvalidToken():
            text = (
                "The Ace Data Cloud token for this workspace was rejected — an admin can set a "
                "new one with `/quota token`."
            )
        case PermissionDenied():
            text = (
                "The workspace's Ace Data Cloud token has no access to application "
                f"`{escape(application_id)}`{f' ({target})' if alias else ''}.{said}"
            )
        case NotFound():
            text = f"Ace Data Cloud has no application `{escape(application_id)}` for this account."
            if alias:
                text += f" An admin can re-link {target}: `{escape(_relink_form(alias))}`."
        case RateLimited():
            text = "Ace Data Cloud is rate-limiting requests right now; try again in a minute."
        case UpstreamTimeout():
            text = f"Ace Data Cloud did not answer in time for {target}; try again shortly."
        case MalformedResponse():
            text = (
                f"Ace Data Cloud sent an answer for {target} that the bot could not read "
                f"({escape(error.message)}). This has been logged."
            )
        case _:
            status = f" (HTTP {error.status_code})" if error.status_code else ""
            text = (
                f"Ace Data Cloud had a problem answering for {target}{status}; try again "
                f"shortly.{said}"
            )
    return f":warning: {text}{trace}"


def _relink_form(alias: str) -> str:
    return f"/quota link {alias} <application-id>"


def fallback_changed_note(
    user_id: str, alias: str | None, application_id: str, before: bool | None, after: bool | None
) -> str:
    """The thread reply under a card after a change: who did what, and what it was."""
    name = f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"
    verb = "enabled" if after else "disabled"
    return f"<@{user_id}> {verb} global fallback for {name} (was {fallback_state(before).lower()})"


def fallback_mismatch(
    alias: str | None, application_id: str, enable: bool, after: bool | None
) -> str:
    name = f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"
    wanted = "enable" if enable else "disable"
    return (
        f":warning: Ace Data Cloud accepted the request to {wanted} global fallback for {name} but "
        f"still reports it {fallback_state(after)}. The card shows what it reports; try again or "
        "check the console."
    )


def fallback_already(alias: str | None, application_id: str, state: bool | None) -> str:
    name = f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"
    return (
        f":information_source: Global fallback for {name} is already {fallback_state(state)}; "
        "nothing was changed and the card was refreshed."
    )


def fallback_failed(
    error: AceDataError, alias: str | None, application_id: str, *, uncertain: bool
) -> str:
    text = upstream_problem(error, application_id=application_id, alias=alias)
    if uncertain:
        return text + " The change may or may not have been made: press *Refresh* to see."
    return text + " Global fallback was not changed."


def card_not_updated(
    alias: str | None, application_id: str, state: bool | None, problem: str
) -> str:
    name = f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"
    return (
        f":warning: Global fallback for {name} is {fallback_state(state)}, but the card could not "
        f"be updated (Slack said `{escape(problem)}`). Run `/quota` again for a fresh card."
    )


def fallback_busy(alias: str | None, application_id: str) -> str:
    name = f"*{escape(alias)}*" if alias else f"`{escape(application_id)}`"
    return (
        f":hourglass: Another change to {name}'s global fallback is in progress; nothing was "
        "changed. Try again in a moment."
    )


INVALID_BUTTON = (
    ":warning: This button's data could not be read, so nothing was done. Run `/quota "
    "&lt;alias&gt;` for a fresh card."
)


def target_moved(alias: str) -> str:
    return (
        f":information_source: *{escape(alias)}* now points to another application, so this card "
        f"is out of date and nothing was changed. Run `/quota {escape(alias)}` for a fresh card."
    )


def card_alias_gone(alias: str) -> str:
    return (
        f":no_entry: *{escape(alias)}* is not an alias in this channel or workspace any more, so "
        "this card cannot change it; nothing was changed."
    )


def application_not_linked(application_id: str) -> str:
    return (
        f":no_entry: Application `{escape(application_id)}` is not linked to any alias in this "
        "workspace, so it cannot be changed from here; nothing was changed."
    )


_AUDIT_VERBS = {
    "token_set": "set the Ace Data Cloud token",
    "alias_linked": "linked",
    "alias_unlinked": "unlinked",
    "admin_added": "added a bot admin",
    "admin_removed": "removed a bot admin",
}


def audit_list(events: Sequence[AuditEvent], alias: str | None) -> Blocks:
    scope = f" for *{escape(alias)}*" if alias else ""
    if not events:
        return _blocks(SectionBlock(text=MarkdownTextObject(text=f"No audit events{scope} yet.")))
    lines = [_audit_line(event) for event in events]
    header = SectionBlock(
        text=MarkdownTextObject(text=f"*Last {len(events)} audit events*{scope}, newest first")
    )
    return _blocks(header, *(_sections(lines)))


def _audit_line(event: AuditEvent) -> str:
    when = slack_date(event.created_at)
    who = f"<@{escape(event.user_id)}>"
    alias = f"*{escape(event.alias)}*" if event.alias else f"`{escape(event.application_id or '')}`"
    if event.action == "fallback":
        wanted = "enable" if event.requested == "on" else "disable"
        states = f"{event.before or '?'} → {event.after or '?'}"
        trace = f" · trace `{escape(event.trace_id)}`" if event.trace_id else ""
        return (
            f"• {when} {who} asked to {wanted} global fallback for {alias}: "
            f"*{event.outcome}* ({states}){trace}"
        )
    verb = _AUDIT_VERBS.get(event.action, escape(event.action))
    target = ""
    if event.action in {"alias_linked", "alias_unlinked"}:
        target = f" {alias} → `{escape(event.after or event.before or '')}`"
    elif event.action in {"admin_added", "admin_removed"} and event.detail:
        target = f" <@{escape(event.detail)}>"
    elif event.action == "token_set" and event.after:
        target = f" ({escape(event.after)})"
    return f"• {when} {who} {verb}{target}"


def _sections(lines: Sequence[str]) -> list[SectionBlock]:
    """Lines packed into as few sections as Slack's 3,000-character limit allows."""
    chunks: list[str] = [""]
    for line in lines:
        if chunks[-1] and len(chunks[-1]) + len(line) + 1 > MAX_SECTION_CHARS:
            chunks.append("")
        chunks[-1] += line + "\n"
    return [SectionBlock(text=MarkdownTextObject(text=chunk.rstrip())) for chunk in chunks]
