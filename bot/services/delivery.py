"""What digests and alerts share once they post: what a post came to, and when a Slack error
means a schedule or alert is paused rather than tried again."""

from __future__ import annotations

from dataclasses import dataclass

# Slack errors after which posting again is pointless: the schedule (or alert) is paused.
CHANNEL_GONE = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "account_inactive", "token_revoked"}
)
# Paused because the workspace uninstalled the app (or its token died): a re-install resumes it.
UNINSTALLED = "uninstalled"
_TOKEN_GONE = frozenset({"account_inactive", "token_revoked", "invalid_auth"})


def pause_reason(slack_error: str | None) -> str | None:
    """Why a schedule or alert is paused after `slack_error`, or None to keep it running."""
    if slack_error in _TOKEN_GONE:
        return UNINSTALLED
    return slack_error if slack_error in CHANNEL_GONE else None


def tell_who_set_it(slack_error: str | None) -> bool:
    """Whether whoever set a schedule or alert is told it stopped: its channel is gone (a dead
    token is the workspace's news, not theirs)."""
    return slack_error is not None and pause_reason(slack_error) == slack_error


@dataclass(frozen=True)
class Posted:
    """What a post came to: the (first) message's ts once Slack took it, and Slack's error (or
    the transport's) if any part was refused."""

    ts: str | None
    error: str | None = None
    # Slack said "not now" (rate limited, not answering): the same post may work later.
    retry: bool = False
    # How many of the digest's messages Slack took (the first, then its thread).
    parts: int = 0

    @property
    def cut_short(self) -> bool:
        """The first message is in the channel, some of its thread is not."""
        return self.ts is not None and self.error is not None
