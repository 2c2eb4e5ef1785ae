"""`/quota keys`: the list of an application's API keys with a Set cap, Pause and Resume button
each, their confirm dialogs, the cap dialog, the notes in the thread, and every sentence about
a key change. No key secret ever reaches these functions (the client drops them on reading).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
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

from ...acedata import AceDataError, ApiKey, NotFound
from ...services.keys import (
    MAX_CAP_DECIMALS,
    DaySpend,
    KeyAction,
    KeyChangeResult,
    KeyList,
    KeyView,
    cap_text,
)
from .. import ids
from ..api_errors import is_transient
from .format import Blocks, amount, blocks, slack_date
from .messages import upstream_problem
from .text import clip, escape

# Two blocks a key: this many keys, a header, a context and a note stay under Slack's 50.
MAX_KEYS_SHOWN = 20
MAX_KEY_NAME = 60
# A confirm dialog's text holds 300 characters: a key's name there is shorter.
MAX_CONFIRM_NAME = 40
MAX_CONFIRM_TEXT = 300
MAX_HEADER = 150
_STATES = {
    "active": ":large_green_circle: active",
    "paused": ":double_vertical_bar: paused",
    "capped": ":no_entry: capped out",
}


def key_name(key: ApiKey, limit: int = MAX_KEY_NAME) -> str:
    """A key as messages name it: its name (or the start of its id) in bold, escaped."""
    return f"*{escape(clip(key.display_name, limit))}*"


def _confirm_text(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, MAX_CONFIRM_TEXT))


def cap_amount(cap: Decimal | None) -> str:
    """A cap as shown: with thousands separators, never rounded away; `no cap`."""
    if cap is None:
        return "no cap"
    if cap == cap.quantize(Decimal("0.01")):
        return amount(cap)
    return f"{cap:,f}"


def _utc(moment: datetime) -> str:
    """A time in a confirm dialog, which shows text as written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def keys_message(alias: str, listed: KeyList) -> Blocks:
    """The keys list posted in the channel: a section and a row of buttons per key."""
    shown = listed.keys[:MAX_KEYS_SHOWN]
    items: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=f"API keys · {alias}"[:MAX_HEADER], emoji=False))
    ]
    for index, view in enumerate(shown):
        items.append(SectionBlock(text=MarkdownTextObject(text=_key_text(view, listed.as_of))))
        items.append(
            ActionsBlock(
                block_id=f"{ids.KEY_ACTIONS_BLOCK}:{index}",
                elements=_key_buttons(alias, listed.application_id, view, listed.as_of),
            )
        )
    more = len(listed.keys) - len(shown)
    context = (
        f"Application `{escape(listed.application_id)}` · {_count(len(listed.keys))} · as of "
        f"{slack_date(listed.as_of)} · the last day's spend is from Quota Bot's own readings "
        "of each key"
    )
    if more:
        context += f" · {more} more not shown (the keys that spent least lately)"
    items.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    return blocks(*items)


def keys_text(alias: str, listed: KeyList) -> str:
    """The notification text that goes with the keys list."""
    paused = sum(view.state == "paused" for view in listed.keys)
    extra = f", {paused} paused" if paused else ""
    return f"API keys of {escape(alias)}: {_count(len(listed.keys))}{extra}"


def _count(number: int) -> str:
    return f"{number} key" if number == 1 else f"{number} keys"


def _key_text(view: KeyView, now: datetime) -> str:
    key = view.key
    kind = f" · {escape(clip(key.type, 20))}" if key.type else ""
    lines = [
        f"{key_name(key)}{kind} · {_STATES[view.state]}",
        f"Spent *{amount(key.used_amount)}* · {_cap(key.limited_amount)} · {_expiry(key, now)}",
        spend_text(view.spend),
    ]
    if view.state == "paused":
        lines.append(_pause_line(view))
    return "\n".join(lines)


def _cap(cap: Decimal | None) -> str:
    return "no cap" if cap is None else f"cap {cap_amount(cap)}"


def _expiry(key: ApiKey, now: datetime) -> str:
    if key.expired_at is None:
        return "no expiry"
    verb = "expired" if key.is_paused(now) else "expires"
    return f"{verb} {slack_date(key.expired_at)}"


def _pause_line(view: KeyView) -> str:
    if not view.paused_by_bot:
        return (
            "_Not paused by Quota Bot: its expiry passed or was set elsewhere; change it in the "
            "Ace Data Cloud console._"
        )
    back = "no expiry" if view.previous_expiry is None else slack_date(view.previous_expiry)
    return f"_Paused by Quota Bot: *Resume key* gives it back {back}._"


def spend_text(spend: DaySpend) -> str:
    if spend.amount is None:
        return "Last day: not known yet (Quota Bot keeps track from now on)"
    if spend.since is None:
        return f"Last day: *{amount(spend.amount)}*"
    return f"Since {slack_date(spend.since)}: *{amount(spend.amount)}*"


def _key_buttons(
    alias: str, application_id: str, view: KeyView, now: datetime
) -> list[ButtonElement]:
    value = ids.encode(
        ids.KeyTarget(alias=alias, application_id=application_id, key_id=view.key.id)
    )
    buttons = [
        ButtonElement(
            text=PlainTextObject(text="Set cap…"), action_id=ids.KEY_CAP_ACTION, value=value
        )
    ]
    if view.state != "paused":
        buttons.append(pause_button(alias, view.key, value))
    elif view.paused_by_bot:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Resume key"),
                action_id=ids.KEY_RESUME_ACTION,
                value=value,
                style="primary",
                confirm=_resume_confirm(alias, view.key, view.previous_expiry, now),
            )
        )
    return buttons


def pause_button(alias: str, key: ApiKey, value: str, *, label: str = "Pause key") -> ButtonElement:
    """*Pause key*, with the dialog that says what it does (a spike alert uses it too)."""
    return ButtonElement(
        text=PlainTextObject(text=clip(label, 75)),
        action_id=ids.KEY_PAUSE_ACTION,
        value=value,
        style="danger",
        confirm=pause_confirm(alias, key),
    )


def pause_confirm(alias: str, key: ApiKey) -> ConfirmObject:
    back = "no expiry" if key.expired_at is None else f"its expiry ({_utc(key.expired_at)})"
    return ConfirmObject(
        title=PlainTextObject(text="Pause this key?"),
        text=_confirm_text(
            f"Key {key_name(key, MAX_CONFIRM_NAME)} of *{escape(alias)}* stops working at once: "
            "its expiry is set to now, so Ace Data Cloud refuses calls made with it. *Resume "
            f"key* gives it back {back}."
        ),
        confirm=PlainTextObject(text="Pause key"),
        deny=PlainTextObject(text="Cancel"),
        style="danger",
    )


def _resume_confirm(
    alias: str, key: ApiKey, previous: datetime | None, now: datetime
) -> ConfirmObject:
    if previous is None:
        outcome = "works again: it gets back no expiry, as before Quota Bot paused it."
    elif previous > now:
        outcome = f"works again: its expiry goes back to {_utc(previous)}, as before the pause."
    else:
        outcome = (
            f"gets back its expiry of {_utc(previous)}, which has passed: it stays refused "
            "until its expiry is changed in the console."
        )
    return ConfirmObject(
        title=PlainTextObject(text="Resume this key?"),
        text=_confirm_text(f"Key {key_name(key, MAX_CONFIRM_NAME)} of *{escape(alias)}* {outcome}"),
        confirm=PlainTextObject(text="Resume key"),
        deny=PlainTextObject(text="Cancel"),
        style="primary",
    )


def cap_modal(alias: str, key: ApiKey, metadata: str) -> dict[str, Any]:
    """The *Set cap…* dialog (the dialog itself is the confirmation): the current spend and
    cap, and the new cap to type; empty for none."""
    initial = None if key.limited_amount is None else cap_text(key.limited_amount)
    element = PlainTextInputElement(
        action_id=ids.KEY_CAP_INPUT,
        placeholder=PlainTextObject(text="e.g. 500 — empty for no cap"),
        max_length=40,
        initial_value=initial,
    )
    return View(
        type="modal",
        callback_id=ids.KEY_CAP_MODAL_CALLBACK,
        title=PlainTextObject(text="Spend cap"),
        submit=PlainTextObject(text="Set cap"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Key {key_name(key)} of *{escape(alias)}* has spent "
                    f"*{amount(key.used_amount)}*; its cap is {cap_amount(key.limited_amount)}. "
                    "Once a key has spent its cap, Ace Data Cloud refuses its calls, so a cap "
                    "at or below what it has spent stops it at once."
                )
            ),
            InputBlock(
                block_id=ids.KEY_CAP_BLOCK,
                label=PlainTextObject(text="New cap"),
                element=element,
                optional=True,
                hint=PlainTextObject(
                    text=f"A number from 0, at most {MAX_CAP_DECIMALS} decimals. Leave it empty "
                    "to remove the cap."
                ),
            ),
        ],
    ).to_dict()


CAP_DIALOG_UNREADABLE = (
    "This dialog's data could not be read, so nothing was changed. Close it and press Set cap… "
    "again."
)
CAP_DIALOG_LATE = (
    ":hourglass: Slack did not let the cap dialog open in time; nothing was changed. Press "
    "*Set cap…* again."
)


def keys_alias_gone(alias: str) -> str:
    return (
        f":no_entry: *{escape(alias)}* is not an alias in this channel or workspace any more, so "
        "this button cannot change its keys; nothing was changed."
    )


def keys_target_moved(alias: str) -> str:
    return (
        f":information_source: *{escape(alias)}* now points to another application, so this is "
        f"out of date and nothing was changed. Run `/quota keys {escape(alias)}` for a fresh "
        "list."
    )


def no_keys(alias: str) -> str:
    return f":key: *{escape(alias)}* has no API keys."


def keys_not_posted(error: str) -> str:
    if is_transient(error):
        return (
            f":hourglass: Slack is rate limiting the bot or not answering right now "
            f"(`{escape(error)}`), so the key list was not posted. Try again in a minute."
        )
    return (
        f":no_entry: The key list could not be posted here (Slack said `{escape(error)}`). It is "
        "posted in the channel so that what its buttons do is noted in its thread: invite the "
        "bot with `/invite @Quota Bot` and run the command again."
    )


def _what(action: KeyAction, result: KeyChangeResult, name: str, alias: str) -> str:
    """What a change did, as a clause: "paused key *ci* of *prod*"."""
    of = f"key {name} of *{escape(alias)}*"
    match action:
        case "key_pause":
            return f"paused {of}"
        case "key_resume":
            return f"resumed {of}"
    cap = result.after.limited_amount if result.after else None
    if cap is None:
        return f"removed the spend cap of {of}"
    return f"set the spend cap of {of} to {cap_amount(cap)}"


def _was(action: KeyAction, result: KeyChangeResult) -> str:
    before = result.before
    match action:
        case "key_cap":
            return f"was {cap_amount(before.limited_amount if before else None)}"
        case "key_pause":
            back = "no expiry" if result.expiry is None else slack_date(result.expiry)
            return f"calls with it are refused; *Resume key* gives it back {back}"
    back = "no expiry" if result.expiry is None else slack_date(result.expiry)
    note = f"its expiry is back to {back}"
    if result.expiry is not None and result.after and result.after.is_paused(datetime.now(UTC)):
        note += ", which has passed, so it stays refused until that is changed in the console"
    return note


def key_changed_note(user_id: str, action: KeyAction, result: KeyChangeResult, alias: str) -> str:
    """The thread note after a change: who did what to which key, and what it was."""
    key = result.after or result.before
    name = key_name(key) if key else "a key"
    return f"<@{user_id}> {_what(action, result, name, alias)} ({_was(action, result)})"


def key_changed_with_problems(
    action: KeyAction, result: KeyChangeResult, alias: str, problems: list[str]
) -> str:
    key = result.after or result.before
    name = key_name(key) if key else "the key"
    return (
        f":warning: The change was made — {_what(action, result, name, alias)} — but "
        f"{_joined(problems)}."
    )


def key_already(action: KeyAction, key: ApiKey, alias: str, problems: list[str]) -> str:
    of = f"Key {key_name(key)} of *{escape(alias)}*"
    match action:
        case "key_cap":
            state = f"already has {cap_amount(key.limited_amount)}"
            if key.limited_amount is not None:
                state = f"is already capped at {cap_amount(key.limited_amount)}"
        case "key_pause":
            state = "is already paused (its expiry has passed)"
        case _:
            state = "is not paused"
    also = f"; {_joined(problems)}" if problems else ""
    return f":information_source: {of} {state}; nothing was changed{also}."


def key_not_listed(alias: str) -> str:
    return (
        f":no_entry: That key is not one of *{escape(alias)}*'s API keys as this workspace's Ace "
        f"Data Cloud token reads them, so nothing was changed. Run `/quota keys {escape(alias)}` "
        "for a fresh list."
    )


def key_not_paused_by_bot(key: ApiKey, alias: str) -> str:
    return (
        f":no_entry: Key {key_name(key)} of *{escape(alias)}* was not paused by Quota Bot (its "
        "expiry passed or was set elsewhere), so the bot does not know what expiry to give "
        "back; nothing was changed. Change its expiry in the Ace Data Cloud console."
    )


def key_mismatch(action: KeyAction, result: KeyChangeResult, alias: str) -> str:
    key = result.after or result.before
    name = key_name(key) if key else "the key"
    wanted = {"key_cap": "the cap change", "key_pause": "the pause", "key_resume": "the resume"}
    return (
        f":warning: Ace Data Cloud accepted {wanted[action]} of key {name} of "
        f"*{escape(alias)}* but does not show it when read back. The list shows what it "
        "reports; try again or check the console."
    )


def key_failed(
    error: AceDataError,
    alias: str,
    application_id: str,
    *,
    uncertain: bool,
    key: ApiKey | None = None,
) -> str:
    """A change Ace Data Cloud refused or did not answer; `key` when it was read first (so a
    404 is about the key, not the application)."""
    if isinstance(error, NotFound) and key is not None and not uncertain:
        return (
            f":warning: Ace Data Cloud no longer has key {key_name(key)} of *{escape(alias)}*; "
            f"nothing was changed. Run `/quota keys {escape(alias)}` for a fresh list."
        )
    text = upstream_problem(error, application_id=application_id, alias=alias)
    if uncertain:
        return (
            f"{text} The change may or may not have been made: run `/quota keys "
            f"{escape(alias)}` to see."
        )
    return text + " The key was not changed."


def key_busy(alias: str) -> str:
    return (
        f":hourglass: Another change to *{escape(alias)}* is in progress; nothing was changed. "
        "Try again in a moment."
    )


def list_not_updated_part(problem: str, alias: str) -> str:
    return (
        f"the key list could not be updated (Slack said `{escape(problem)}`; run "
        f"`/quota keys {escape(alias)}` for a fresh one)"
    )


def key_note_not_posted_part(problem: str) -> str:
    return (
        f"the note in the thread could not be posted (Slack said `{escape(problem)}`; is the "
        "bot a member of this channel? `/invite @Quota Bot` adds it)"
    )


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + "; and " + parts[-1]
