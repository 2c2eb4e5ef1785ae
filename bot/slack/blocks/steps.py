"""What a Workflow Builder step says when it cannot finish: one sentence for the person who
built or ran the workflow (Slack shows it in the workflow's activity)."""

from __future__ import annotations

from ...acedata import (
    AceDataError,
    InvalidToken,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamTimeout,
)
from ...services.errors import (
    AliasNotFound,
    ApplicationNotLinked,
    DatabaseUnavailable,
    NotAdmin,
    NoTokenConfigured,
    TargetMoved,
    TokenUnreadable,
)
from ...services.fallback_timers import DURATIONS


def missing_input(name: str) -> str:
    return f"The step needs its “{name}” input: set it in Workflow Builder."


def bad_input(name: str) -> str:
    if name == "duration":
        return f"“duration” must be one of {', '.join(DURATIONS)}."
    return f"The “{name}” input is not a value Quota Bot can use."


NOT_A_MEMBER = (
    "The person running this workflow is not a member of this workspace, so Quota Bot will not "
    "act for them."
)
CANNOT_POST = (
    "Quota Bot cannot post in that channel: invite it there (/invite @Quota Bot) and run the "
    "workflow again."
)
SLACK_UNREACHABLE = "Slack could not confirm who is running this workflow. Try again in a minute."
INTERNAL = "Quota Bot hit an unexpected error; nothing was changed. Try again, or ask its operator."


def step_failure(exc: Exception) -> str | None:
    """The sentence for an expected failure; None for an unexpected one."""
    match exc:
        case AliasNotFound():
            return (
                f"Quota Bot has no alias “{exc.name}” in this workspace (or that channel): link "
                f"it with /quota link {exc.name} <application-id>."
            )
        case TargetMoved() | ApplicationNotLinked():
            return "That alias no longer points to the same application. Nothing was changed."
        case NotAdmin():
            return (
                f"Only Quota Bot admins may {exc.action}; the person running this workflow is "
                "not one. Nothing was changed."
            )
        case TokenUnreadable():
            return "Quota Bot's Ace Data Cloud token cannot be read: an admin must set it again."
        case NoTokenConfigured():
            return "Quota Bot has no Ace Data Cloud token yet: an admin must run /quota token."
        case DatabaseUnavailable():
            return "Quota Bot's database is not answering; nothing was changed. Try again later."
        case AceDataError():
            return f"{_upstream(exc)} Nothing was changed."
    return None


def approval_requested(alias: str) -> str:
    return f"Asked for approval to enable global fallback for {alias}."


def fallback_not_switched(detail: str) -> str:
    return f"Global fallback was not switched: {detail}"


def _upstream(error: AceDataError) -> str:
    """How Ace Data Cloud failed, in the bot's own words (never the upstream's)."""
    match error:
        case InvalidToken():
            return "Ace Data Cloud rejected Quota Bot's token: an admin can set a new one."
        case PermissionDenied():
            return "Quota Bot's Ace Data Cloud token has no access to that application."
        case NotFound():
            return "Ace Data Cloud has no such application for this account."
        case RateLimited():
            return "Ace Data Cloud is rate-limiting requests; try again in a minute."
        case UpstreamTimeout():
            return "Ace Data Cloud did not answer in time; try again shortly."
    return "Ace Data Cloud could not answer; try again shortly."


UNREADABLE_AMOUNT = "Ace Data Cloud answered with an amount Quota Bot cannot read as a number."
UNKNOWN_STEP = (
    "This version of Quota Bot does not provide that step: its operator should update it, or "
    "the app's manifest."
)
MISMATCH = (
    "Ace Data Cloud accepted the change but still reports the old state; check the card "
    "(/quota <alias>)."
)
ALREADY_WAITING = (
    "A request to enable global fallback for that alias is already waiting for approval."
)
VIA_WORKFLOW = " (from a workflow)"
