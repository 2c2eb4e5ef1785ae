"""Every sentence the bot says privately: refusals, failures, and what a change did."""

from __future__ import annotations

from datetime import UTC, datetime

from ...acedata import (
    AceDataError,
    Application,
    InvalidToken,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamTimeout,
)
from ...services.digests import DigestSetup, LastDelivery
from ...services.errors import (
    AdminCheckFailed,
    DatabaseOutcomeUnknown,
    DatabaseUnavailable,
    NotAdmin,
    NoTokenConfigured,
    TokenUnreadable,
)
from ...services.fallback import FallbackResult
from ...services.schedules import Schedule
from ..api_errors import is_transient
from .format import fallback_state, named, slack_date, title
from .text import escape

NO_TOKEN = (
    ":key: No Ace Data Cloud token is set for this workspace yet. An admin can set one with "
    "`/quota token`."
)
NO_TOKEN_FOR_LIST = (
    "No Ace Data Cloud token is set, so quotas are not shown: an admin can set one with "
    "`/quota token`."
)
TOKEN_UNREADABLE = (
    ":key: The stored Ace Data Cloud token can't be read with the current encryption key — an "
    "admin can set it again with `/quota token`, or the operator can restore the old key "
    "(`ENCRYPTION_KEY=new,old`)."
)
DATABASE_UNAVAILABLE = (
    ":warning: Quota Bot can't reach its database right now — nothing was changed; try again in "
    "a minute."
)
DATABASE_OUTCOME_UNKNOWN = (
    ":warning: Quota Bot's database stopped answering while saving this, so it may or may not "
    "have been saved. Check before trying again: `/quota list`, `/quota admins` and "
    "`/quota audit` show what is stored."
)
SLACK_UNREACHABLE = (
    ":warning: Quota Bot can't reach Slack to confirm who it is right now, so nothing was done. "
    "Please try again in a minute."
)
BUSY = ":hourglass: Quota Bot is busy — try again in a few seconds. Nothing was done."
BUSY_FIELD = "Quota Bot is busy — submit again in a few seconds. Nothing was saved."
NOT_INSTALLED = (
    ":warning: Quota Bot has no installation for this workspace it can use right now (it was "
    "uninstalled, or its installation could not be read), so nothing was done. Try again in a "
    "minute; if it keeps happening, ask a Slack admin to install Quota Bot again."
)
OTHER_WORKSPACE = (
    ":no_entry: This Quota Bot is installed for another Slack workspace, so it cannot answer "
    "here; nothing was done."
)
INTERNAL_ERROR = (
    ":x: Something went wrong on our side; nothing was changed. It has been logged — please try "
    "again."
)
TOKEN_MODAL_LATE = (
    ":hourglass: Slack did not let the token dialog open in time. Please run `/quota token` again."
)
INVALID_BUTTON = (
    ":warning: This button's data could not be read, so nothing was done. Run `/quota "
    "&lt;alias&gt;` for a fresh card."
)
AUDIT_MISSING_PART = "it could not be recorded in the audit log (the database did not answer)"


def not_admin(action: str) -> str:
    return (
        f":no_entry: Only bot admins can {action}. Slack workspace admins and owners are bot "
        "admins; they can add others with `/quota admins add @user`."
    )


def admin_check_failed(reason: str) -> str:
    return (
        ":hourglass: Slack could not confirm your role right now (users.info said "
        f"`{escape(reason)}`), so nothing was done. Please try again in a moment."
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


def alias_linked(
    alias: str,
    application: Application,
    application_id: str,
    workspace: bool,
    previous: str | None,
) -> str:
    scope = "the whole workspace" if workspace else "this channel"
    was = f" (was `{escape(previous)}`)" if previous else ""
    return (
        f":link: *{escape(alias)}* now points to {escape(title(application))} "
        f"(`{escape(application_id)}`) for {scope}{was}. Anyone here can use "
        f"`/quota {escape(alias)}`."
    )


def alias_unlinked(alias: str, application_id: str, workspace: bool) -> str:
    scope = "workspace" if workspace else "channel"
    return (
        f":broken_chain: Removed the {scope} alias *{escape(alias)}* "
        f"(it pointed to `{escape(application_id)}`)."
    )


def admin_changed(user_id: str, add: bool, changed: bool) -> str:
    who = f"<@{user_id}>"
    if add:
        return f"{who} is now a bot admin." if changed else f"{who} was already a bot admin."
    if changed:
        return (
            f"{who} is no longer a listed bot admin (Slack workspace admins and owners stay "
            "admins)."
        )
    return f"{who} was not a listed bot admin; nothing changed."


def upstream_problem(error: AceDataError, *, application_id: str, alias: str | None) -> str:
    """One sentence for each way Ace Data Cloud can fail, with its own words where it gave any."""
    target = named(alias, application_id)
    said = f" Ace Data Cloud said: “{escape(error.message)}”." if error.quoted else ""
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
            wait = (
                f"try again in {max(1, round(error.retry_after))} s"
                if error.retry_after is not None
                else "try again in a minute"
            )
            text = f"Ace Data Cloud is rate-limiting requests right now; {wait}."
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
    verb = "enabled" if after else "disabled"
    return (
        f"<@{user_id}> {verb} global fallback for {named(alias, application_id)} "
        f"(was {fallback_state(before).lower()})"
    )


def fallback_mismatch(
    alias: str | None,
    application_id: str,
    enable: bool,
    after: bool | None,
    problems: list[str] | None = None,
) -> str:
    wanted = "enable" if enable else "disable"
    also = f" Also, {_joined(problems)}." if problems else ""
    return (
        f":warning: Ace Data Cloud accepted the request to {wanted} global fallback for "
        f"{named(alias, application_id)} but still reports it {fallback_state(after)}. The card "
        f"shows what it reports; try again or check the console.{also}"
    )


def fallback_already(
    alias: str | None, application_id: str, state: bool | None, problems: list[str]
) -> str:
    refreshed = f"; {_joined(problems)}" if problems else " and the card was refreshed"
    return (
        f":information_source: Global fallback for {named(alias, application_id)} is already "
        f"{fallback_state(state)}; nothing was changed{refreshed}."
    )


def fallback_changed_with_problems(
    alias: str | None, application_id: str, result: FallbackResult, problems: list[str]
) -> str:
    """The change was made; what went wrong afterwards (card, note, audit), said as that."""
    return (
        f":warning: Global fallback for {named(alias, application_id)} is "
        f"{fallback_state(result.after)}, but {_joined(problems)}. The change was made (it was "
        f"{fallback_state(result.before).lower()})."
    )


def card_not_updated_part(problem: str) -> str:
    return (
        f"the card could not be updated (Slack said `{escape(problem)}`; run `/quota` again for "
        "a fresh card)"
    )


def note_not_posted_part(problem: str) -> str:
    return (
        f"the note under the card could not be posted (Slack said `{escape(problem)}`; is the "
        "bot a member of this channel? `/invite @Quota Bot` adds it)"
    )


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + "; and " + parts[-1]


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
    return (
        f":warning: Global fallback for {named(alias, application_id)} is "
        f"{fallback_state(state)}, but the card could not be updated (Slack said "
        f"`{escape(problem)}`). Run `/quota` again for a fresh card."
    )


def digest_not_refreshed(problem: str) -> str:
    return (
        f":warning: The digest could not be refreshed (Slack said `{escape(problem)}`). Try "
        "again in a minute, or run `/quota` for a fresh card."
    )


def fallback_busy(alias: str | None, application_id: str) -> str:
    return (
        f":hourglass: Another change to {named(alias, application_id)}'s global fallback is in "
        "progress; nothing was changed. Try again in a moment."
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


def digest_paused(channel_id: str, schedule: str, error: str) -> str:
    return (
        f":pause_button: {schedule} for <#{channel_id}> is paused: Slack said `{escape(error)}` "
        "when it was due. Invite the bot there (`/invite @Quota Bot`) and set it again with "
        "`/quota digest …`, or turn it off with `/quota digest off`."
    )


NO_DIGEST = (
    ":calendar: This channel has no digest. An admin can set one with "
    "`/quota digest daily 09:00 Europe/Berlin` (or `weekdays`, or `weekly mon 09:00`)."
)
DIGEST_OFF = ":calendar: The digest for this channel is off; nothing more will be sent."


def _local_day(schedule: Schedule, moment: datetime) -> str:
    return moment.astimezone(schedule.zone).strftime("%a %-d %b")


def digest_confirmation(schedule: Schedule, first: datetime) -> str:
    """What the channel sees when a digest is set up."""
    return f":calendar: {schedule.describe()}; first one {_local_day(schedule, first)}."


def digest_set(schedule: Schedule, first: datetime) -> str:
    local = first.astimezone(schedule.zone).strftime("%a %-d %b %H:%M")
    return (
        f":white_check_mark: {schedule.describe()}. The first one comes {local} "
        f"{schedule.zone.key} ({first.strftime('%H:%M')} UTC). `/quota digest now` sends one at "
        "once; `/quota digest off` stops it."
    )


NO_WORKER = (
    ":warning: No worker is running — digests and alerts are not being sent. Whoever runs Quota "
    "Bot should start `quota-bot worker` (or set `SCHEDULER_IN_WEB=on`)."
)


def with_warning(warning: str | None, text: str) -> str:
    """`text`, after `warning` when there is one."""
    return text if warning is None else f"{warning}\n\n{text}"


def cannot_post_here(error: str) -> str:
    if is_transient(error):
        return (
            f":hourglass: Slack is rate limiting the bot or not answering right now (`"
            f"{escape(error)}`), so nothing was saved. Try again in a minute."
        )
    return (
        f":no_entry: The bot cannot post in this channel (Slack said `{escape(error)}`), so "
        "nothing was saved. Invite it with `/invite @Quota Bot` and try again."
    )


def digest_not_posted(error: str) -> str:
    return (
        f":no_entry: The digest could not be posted here (Slack said `{escape(error)}`). If the "
        "bot is not in this channel, invite it with `/invite @Quota Bot`."
    )


def digest_status(setup: DigestSetup, last: LastDelivery | None) -> str:
    schedule = setup.schedule
    lines = [f":calendar: {schedule.describe()}."]
    if setup.paused_reason:
        lines.append(
            f"Paused: {paused_because(setup.paused_reason)} when it was due. Invite the bot "
            "and set the digest again to resume it."
        )
    else:
        local = setup.next_run_at.astimezone(schedule.zone).strftime("%a %-d %b %H:%M")
        utc = setup.next_run_at.astimezone(UTC).strftime("%a %-d %b %H:%M")
        lines.append(f"Next: {local} {schedule.zone.key} ({utc} UTC).")
    if last is not None:
        how = {
            "sent": "sent",
            "partial": "sent, but not all of its thread",
            "failed": "not sent",
            "claimed": "being sent",
        }.get(last.outcome, last.outcome)
        error = f" (Slack said `{escape(last.slack_error)}`)" if last.slack_error else ""
        late = ", late" if last.late else ""
        lines.append(f"Last: {slack_date(last.slot)} — {how}{late}{error}.")
    return "\n".join(lines)


_LASTING = {
    "alias_gone": ("its alias no longer exists there", "Link the alias again"),
    "no_token": ("the workspace has no Ace Data Cloud token", "Set one with `/quota token`"),
    "token_rejected": (
        "Ace Data Cloud rejected the workspace's token",
        "Set a valid one with `/quota token`",
    ),
    "uninstalled": ("the app was uninstalled", "Install it again"),
}


def paused_because(reason: str) -> str:
    """Why a digest or alert is paused, as a clause: "Slack said `channel_not_found`"."""
    known = _LASTING.get(reason)
    return known[0] if known else f"Slack said `{escape(reason)}`"


def alert_paused(channel_id: str, alias: str, error: str) -> str:
    known = _LASTING.get(error)
    if known is not None:
        return (
            f":pause_button: The alert on *{escape(alias)}* in <#{channel_id}> is paused: "
            f"{known[0]}, so it could not be checked for several rounds. {known[1]}, then set "
            "the alert again with `/quota alert …`."
        )
    return (
        f":pause_button: The alert on *{escape(alias)}* in <#{channel_id}> is paused: Slack said "
        f"`{escape(error)}` when it tried to post. Invite the bot there and set the alert again "
        "with `/quota alert …`."
    )


def failure_text(exc: Exception) -> str | None:
    """The sentence for a failure any interaction can meet, or None for the unexpected."""
    match exc:
        case NotAdmin():
            return not_admin(exc.action)
        case AdminCheckFailed():
            return admin_check_failed(exc.reason)
        case TokenUnreadable():
            return TOKEN_UNREADABLE
        case NoTokenConfigured():
            return NO_TOKEN
        case DatabaseOutcomeUnknown():
            return DATABASE_OUTCOME_UNKNOWN
        case DatabaseUnavailable():
            return DATABASE_UNAVAILABLE
    return None
