"""Lists shown privately: the aliases here, the audit log, the help, the admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from ...acedata import Application
from ...services.audit import AuditEntry
from .format import MAX_BLOCKS, MAX_SECTION_CHARS, Blocks, blocks, quantity, slack_date, title
from .text import clip, escape
from .usage import USAGE

# A failed alias in the list gets a short reason; its card (`/quota <alias>`) says it in full.
MAX_PROBLEM = 200


@dataclass(frozen=True)
class AliasLine:
    name: str
    workspace_wide: bool
    application_id: str
    application: Application | None
    problem: str | None


def alias_list(lines: Sequence[AliasLine], *, token_note: str | None) -> Blocks:
    if not lines:
        return blocks(
            SectionBlock(
                text=MarkdownTextObject(
                    text="No aliases are linked in this channel or workspace yet. An admin can "
                    f"add one with `{USAGE['link']}`."
                )
            )
        )
    header = f"*Aliases here* ({len(lines)})"
    notes = [token_note] if token_note else []
    sections = _sections([_alias_line(line) for line in lines])
    room = MAX_BLOCKS - 2  # the header and the notes
    if len(sections) > room:
        shown = sum(section.text.text.count("\n") + 1 for section in sections[:room])
        sections = sections[:room]
        notes.append(f"{len(lines) - shown} more are not shown: Slack's message limit.")
    notes.append("`/quota &lt;alias&gt;` shows the full card.")
    return blocks(
        SectionBlock(text=MarkdownTextObject(text=header)),
        *sections,
        ContextBlock(elements=[MarkdownTextObject(text=" ".join(notes))]),
    )


def _alias_line(line: AliasLine) -> str:
    scope = "workspace" if line.workspace_wide else "channel"
    head = f"• *{escape(line.name)}* ({scope})"
    if line.application is not None:
        app = line.application
        return f"{head} — {escape(title(app))}: {quantity(app)} left"
    if line.problem is not None:
        problem = clip(" ".join(line.problem.split()), MAX_PROBLEM)
        return f"{head} — `{escape(line.application_id)}`: {problem}"
    return f"{head} — `{escape(line.application_id)}`"


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
        f"`{USAGE['digest']}` or `{USAGE['digest weekly']}` — a scheduled digest for this "
        "channel, in its time zone (admins); `/quota digest` shows it, `now` sends one, `off` "
        "stops it",
        f"`{USAGE['usage']}` — spend by API over today, 7 or 30 days, posted to the channel",
        f"`{USAGE['keys']}` — the alias's API keys with their spend and caps; set a cap, pause "
        "or resume a key (admins)",
        f"`{USAGE['alert']}` — tell this channel before the alias runs out (admins); "
        "`/quota alert` lists them, `/quota alert &lt;alias&gt; off` removes one",
        f"`{USAGE['alert spike']}` — tell this channel when the alias spends N times its usual "
        "rate (default 4) (admins)",
        f"`{USAGE['policy']}` — whether enabling a global fallback needs a second admin's "
        "approval; `approval on|off` changes it (admins)",
        f"`{USAGE['help']}` — this help",
    ]
    return blocks(
        SectionBlock(text=MarkdownTextObject(text="*Quota Bot for Ace Data Cloud*")),
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Aliases are 1 to 32 characters of a-z, 0-9, `-`, `_`, `.`, starting "
                    "with a letter or digit. A channel alias shadows a workspace alias of the "
                    "same name. Admins are Slack workspace admins and owners, plus the users "
                    "listed by `/quota admins`. *Enable global fallback* asks for how long "
                    "(until turned off, 1 hour, 4 hours, until 09:00 tomorrow); Quota Bot "
                    "switches it back then. Workflow Builder has Quota Bot steps (Get quota, "
                    "Request global fallback, Post quota card), and console links to an "
                    "application linked here unfold into its quota."
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


_AUDIT_VERBS = {
    "token_set": "set the Ace Data Cloud token",
    "alias_linked": "linked",
    "alias_unlinked": "unlinked",
    "admin_added": "added a bot admin",
    "admin_removed": "removed a bot admin",
}


def audit_list(events: Sequence[AuditEntry], alias: str | None) -> Blocks:
    scope = f" for *{escape(alias)}*" if alias else ""
    if not events:
        return blocks(SectionBlock(text=MarkdownTextObject(text=f"No audit events{scope} yet.")))
    lines = [_audit_line(event) for event in events]
    header = SectionBlock(
        text=MarkdownTextObject(text=f"*Last {len(events)} audit events*{scope}, newest first")
    )
    return blocks(header, *(_sections(lines)))


def _audit_line(event: AuditEntry) -> str:
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
