"""Guard rails on the global fallback: the Enable dialog (for how long), two-person approval
requests and their decisions, the policy, and the notes a timed fallback leaves."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from ...acedata import AceDataError, Application
from ...services.approvals import PendingRequest
from ...services.fallback_timers import DURATIONS, Duration
from .. import ids
from .format import Blocks, blocks, named, quantity, slack_date
from .messages import upstream_problem
from .text import escape

DURATION_LABELS: dict[Duration, str] = {
    "until_off": "Until someone turns it off",
    "1h": "For 1 hour",
    "4h": "For 4 hours",
    "until_morning": "Until 09:00 tomorrow",
}


def duration_phrase(duration: Duration, off_at: datetime | None = None) -> str:
    """How long, in a sentence: "for 4 hours", "until 09:00 tomorrow"."""
    match duration:
        case "1h":
            return "for 1 hour"
        case "4h":
            return "for 4 hours"
        case "until_morning":
            return "until 09:00 tomorrow" if off_at is None else f"until {slack_date(off_at)}"
    return "until someone turns it off"


def ttl_phrase(ttl: timedelta) -> str:
    minutes = int(ttl.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


def enable_dialog(
    *,
    alias: str | None,
    application_id: str,
    balance: str,
    approval: bool,
    ttl: timedelta,
    zone: ZoneInfo,
    metadata: str,
) -> View:
    """*Enable global fallback*'s dialog: what it does, and for how long."""
    name = named(alias, application_id)
    consequence = (
        f"When {name}'s own quota runs out, calls will be paid from the global balance "
        f"({balance} left)."
    )
    if approval:
        consequence += (
            f"\n\n:busts_in_silhouette: Two-person approval is on: another admin must approve "
            f"this in the thread within {ttl_phrase(ttl)}."
        )
    labels = {**DURATION_LABELS, "until_morning": f"Until 09:00 tomorrow ({zone.key})"[:75]}
    options = [
        Option(value=duration, text=PlainTextObject(text=labels[duration]))
        for duration in DURATIONS
    ]
    return View(
        type="modal",
        callback_id=ids.ENABLE_MODAL_CALLBACK,
        title=PlainTextObject(text="Global fallback"),
        submit=PlainTextObject(text="Ask for approval" if approval else "Enable"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=consequence)),
            InputBlock(
                block_id=ids.DURATION_BLOCK,
                label=PlainTextObject(text="Keep it on"),
                element=RadioButtonsElement(
                    action_id=ids.DURATION_ACTION, options=options, initial_option=options[0]
                ),
            ),
        ],
    )


ENABLE_DIALOG_LATE = (
    "The dialog could not open in time (Slack allows a few seconds). Press *Enable global "
    "fallback* again; nothing was changed."
)
ENABLE_DIALOG_UNREADABLE = (
    "This dialog could not be read. Close it and press *Enable global fallback* again."
)


def request_message(
    request: PendingRequest, *, balance: Application | None, ttl: timedelta
) -> tuple[str, Blocks]:
    """The approval request posted in the thread, with *Approve* and *Reject*."""
    name = named(request.alias, request.application_id)
    text = (
        f"<@{request.requester_id}> asks to enable global fallback for {name} "
        f"{duration_phrase(request.duration)} — General Balance "
        f"{'unavailable' if balance is None else quantity(balance)}"
    )
    value = ids.encode(ids.ApprovalChoice(request=request.id))
    return text, blocks(
        SectionBlock(text=MarkdownTextObject(text=f":raised_hand: {text}")),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=(
                        "Another Quota Bot admin can approve it · it expires "
                        f"{slack_date(request.expires_at)} ({ttl_phrase(ttl)}) · "
                        f"Application `{escape(request.application_id)}`"
                    )
                )
            ]
        ),
        ActionsBlock(
            block_id=ids.APPROVAL_ACTIONS_BLOCK,
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Approve"),
                    action_id=ids.APPROVE_ACTION,
                    value=value,
                    style="primary",
                    confirm=ConfirmObject(
                        title=PlainTextObject(text="Approve?"),
                        text=MarkdownTextObject(
                            text=f"Global fallback for {name} will be switched on "
                            f"{duration_phrase(request.duration)}."
                        ),
                        confirm=PlainTextObject(text="Approve"),
                        deny=PlainTextObject(text="Cancel"),
                    ),
                ),
                ButtonElement(
                    text=PlainTextObject(text="Reject"),
                    action_id=ids.REJECT_ACTION,
                    value=value,
                    style="danger",
                ),
            ],
        ),
    )


def decided_message(request: PendingRequest, outcome: str, detail: str = "") -> tuple[str, Blocks]:
    """The request's message once decided: no buttons, who decided and how."""
    name = named(request.alias, request.application_id)
    asked = (
        f"<@{request.requester_id}> asked to enable global fallback for {name} "
        f"{duration_phrase(request.duration)}."
    )
    by = f"<@{request.decided_by}>" if request.decided_by else "nobody"
    match outcome:
        case "approved":
            said = f":white_check_mark: Approved by {by}. {detail}".rstrip()
        case "failed":
            said = f":warning: Approved by {by}, but the switch was not made: {detail}"
        case "rejected" if request.decided_by == request.requester_id:
            said = f":leftwards_arrow_with_hook: Withdrawn by {by}. Nothing was changed."
        case "rejected":
            said = f":no_entry_sign: Rejected by {by}. Nothing was changed."
        case _:
            said = ":hourglass: Expired: nobody approved it in time. Nothing was changed."
    text = f"{asked} {said}"
    return text, blocks(SectionBlock(text=MarkdownTextObject(text=text)))


def request_sent(alias: str | None, application_id: str, duration: Duration) -> str:
    return (
        f":raised_hand: Asked for approval: another admin can approve enabling global fallback "
        f"for {named(alias, application_id)} {duration_phrase(duration)}. Nothing changes until "
        "then."
    )


def request_not_posted(error: str) -> str:
    return (
        f":warning: The approval request could not be posted here (Slack said `{escape(error)}`),"
        " so nobody could approve it. Nothing was changed. Invite Quota Bot to this channel "
        "(`/invite @Quota Bot`) and try again."
    )


def not_decided(reason: str, request: PendingRequest | None) -> str:
    """Why a press on *Approve* or *Reject* changed nothing."""
    match reason:
        case "expired":
            return (
                ":hourglass: This request has expired; nothing was changed. Press *Enable global "
                "fallback* again to ask anew."
            )
        case "decided" if request is not None:
            status = {"approved": "approved", "failed": "approved", "rejected": "rejected"}
            done = status.get(request.status, "closed")
            by = f" by <@{request.decided_by}>" if request.decided_by else ""
            return f"This request was already {done}{by}. Nothing else was changed."
        case "own":
            return (
                "You asked for this one: another admin has to approve it. (*Reject* withdraws it.)"
            )
        case "waiting" if request is not None:
            return (
                f"A request to enable global fallback for "
                f"{named(request.alias, request.application_id)} is already waiting for "
                f"approval (from <@{request.requester_id}>, expires "
                f"{slack_date(request.expires_at)}). Nothing was changed."
            )
    return "This is not a request Quota Bot knows in this workspace. Nothing was changed."


def approved_detail(off_at: datetime | None) -> str:
    if off_at is None:
        return "Global fallback is on until someone turns it off."
    return f"Global fallback is on until {slack_date(off_at)}."


def until_part(off_at: datetime | None, approved_by: str | None = None) -> str:
    """What a thread note adds about a timed or approved switch."""
    part = ""
    if off_at is not None:
        part += f" until {slack_date(off_at)} (Quota Bot switches it back off then)"
    if approved_by is not None:
        part += f", approved by <@{approved_by}>"
    return part


def switched_back_note(
    alias: str | None,
    application_id: str,
    set_by: str,
    outcome: str | None,
    error: AceDataError | None = None,
) -> str:
    """The worker's note when a timed fallback's time is up."""
    name = named(alias, application_id)
    match outcome:
        case "changed" | "unchanged":
            return (
                f":alarm_clock: Global fallback for {name} is off again: the time <@{set_by}> "
                "set is up."
            )
        case None:
            return (
                f":warning: The time <@{set_by}> set for global fallback on {name} is up, but "
                "Quota Bot has no usable Ace Data Cloud token to switch it off. It is still on: "
                "an admin should set the token (`/quota token`) and turn it off."
            )
    why = f" {upstream_problem(error, application_id=application_id, alias=alias)}" if error else ""
    return (
        f":warning: The time <@{set_by}> set for global fallback on {name} is up, but switching "
        f"it off did not work.{why} Check the card and turn it off by hand."
    )


def policy_text(on: bool, ttl: timedelta) -> str:
    if on:
        return (
            ":busts_in_silhouette: *Two-person approval is on.* Enabling a global fallback "
            "needs a second admin's approval; a request expires after "
            f"{ttl_phrase(ttl)}. Disabling never needs approval. Admins: "
            "`/quota policy approval off`."
        )
    return (
        "*Two-person approval is off.* Any Quota Bot admin can enable a global fallback at "
        "once. Admins: `/quota policy approval on` to require a second admin's approval."
    )


def policy_changed(on: bool, changed: bool) -> str:
    state = "on" if on else "off"
    if not changed:
        return f"Two-person approval was already {state}. Nothing was changed."
    if on:
        return (
            ":busts_in_silhouette: Two-person approval is now on: enabling a global fallback "
            "needs a second admin's approval."
        )
    return "Two-person approval is now off: an admin's *Enable global fallback* switches at once."


def timer_not_saved() -> str:
    return (
        ":warning: Global fallback is on, but the time to switch it back could not be saved "
        "(the database did not answer): it stays on until someone turns it off."
    )


STEP_EXPIRED = "Nobody approved the request in time, so global fallback was not changed."


def step_rejected(by: str) -> str:
    return f"The request was rejected by a Quota Bot admin ({by}), so nothing was changed."


def step_failed() -> str:
    return (
        "The request was approved, but Quota Bot could not switch global fallback on. The "
        "request's thread in Slack says why."
    )
