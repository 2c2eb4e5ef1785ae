"""One exception hierarchy for everything that can go wrong talking to Ace Data Cloud.

Messages carry the upstream's own words and the trace id, so that a log line can be matched
with the vendor's records. Every string taken from an answer is redacted before it gets here:
no token it may echo is ever shown, logged or stored.
"""

from __future__ import annotations


class AceDataError(Exception):
    """Base class: the call did not produce a usable answer."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        quoted: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        # The message is Ace Data Cloud's own words (else the bot's).
        self.quoted = quoted
        self.status_code = status_code
        self.code = code
        self.trace_id = trace_id
        self.retry_after = retry_after

    @property
    def refused(self) -> bool:
        """A 4xx answer (but 408): a change asked for was not made. Anything else (a timeout,
        a 5xx) leaves it open."""
        status = self.status_code
        return status is not None and 400 <= status < 500 and status != 408

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.trace_id:
            parts.append(f"trace_id={self.trace_id}")
        return " ".join(parts)


class InvalidToken(AceDataError):
    """401: the token is wrong, revoked, or not a platform (account) token."""


class PermissionDenied(AceDataError):
    """403: the token may not see or change this application (or its quota is used up)."""


class NotFound(AceDataError):
    """404: no such application for this account."""


class RateLimited(AceDataError):
    """429: too many requests, still limited after retrying; `retry_after` is the wait in
    seconds Ace Data Cloud asked for, when it said."""


class UpstreamError(AceDataError):
    """5xx or another unexpected status."""


class UpstreamTimeout(AceDataError):
    """No answer within the deadline the caller set (or the connection failed)."""


class MalformedResponse(AceDataError):
    """The answer was not JSON, or lacked fields the bot needs."""
