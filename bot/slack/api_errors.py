"""What a failed Slack Web API call said, whatever came back."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`), or `http_<status>` when the answer was not
    Slack's JSON at all (a proxy's error page): slack_sdk then hands over the body as text,
    or the raw HTTP response, neither of which has an error code."""
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")[:64]
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return f"http_{status}" if isinstance(status, int) else "unreadable_answer"


# Slack's own words for "not now": the same call may well work in a minute.
_TRANSIENT = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "fatal_error",
        "internal_error",
        "service_unavailable",
        "request_timeout",
        "unreadable_answer",
    }
)


def is_transient(error: str) -> bool:
    """Whether a failed call is worth trying again later: Slack rate limiting or not answering
    (a 5xx, a dropped connection, a time-out) rather than refusing the request."""
    if error in _TRANSIENT or error.startswith("http_5") or error == "http_429":
        return True
    # A transport failure reads as its exception's name (aiohttp's, or TimeoutError).
    return error[:1].isupper() and error.endswith(("Error", "Timeout"))
