"""Prometheus metrics, served on a listener of their own when METRICS_PORT is set.

Every metric is defined here (names prefixed `quota_bot_`) and recorded where its event
happens. Label values come from small fixed sets: never a team, user, channel, alias or
anything else a request or an upstream answer could make grow. This module imports nothing of
the bot's, so any layer may record into it; recording costs a counter increment.

One process serves its own metrics. `quota-bot serve` with WEB_CONCURRENCY > 1 uses
prometheus_client's multiprocess mode: its processes write to a shared directory
(PROMETHEUS_MULTIPROC_DIR, a fresh temporary one unless set) and the parent serves their sum.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import start_http_server as _start_http_server

logger = logging.getLogger(__name__)

# Slack wants an ack within 3 s; the card takes an Ace Data Cloud read or two.
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 15.0)
_CARD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)
_DELAY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

REQUESTS = Counter(
    "quota_bot_requests",
    "Slack requests by kind (command, button, view, event, oauth, other, unknown) and outcome "
    "(acked, refused, malformed, replay, busy, error). A replayed command or button is acked "
    "first, then counted again as replay when found out.",
    ["kind", "outcome"],
)
ACK_SECONDS = Histogram(
    "quota_bot_ack_seconds",
    "Time from a Slack request's arrival to its acknowledgement, by kind.",
    ["kind"],
    buckets=_ACK_BUCKETS,
)
CARD_SECONDS = Histogram(
    "quota_bot_card_seconds",
    "Time from a slash command's arrival to its first message accepted at its response_url "
    "(the card, for /quota <alias>).",
    buckets=_CARD_BUCKETS,
)
ACEDATA_CALLS = Counter(
    "quota_bot_acedata_calls",
    "Ace Data Cloud HTTP attempts by endpoint family and outcome (ok, invalid_token, "
    "permission_denied, not_found, rate_limited, client_error, server_error, timeout, "
    "connection_error, cancelled). Each retry is an attempt.",
    ["endpoint", "outcome"],
)
ACEDATA_SECONDS = Histogram(
    "quota_bot_acedata_call_seconds",
    "Ace Data Cloud attempt latency by endpoint family (from having a connection slot).",
    ["endpoint"],
    buckets=_CALL_BUCKETS,
)
SLACK_CALLS = Counter(
    "quota_bot_slack_calls",
    "Slack Web API calls by method and outcome (ok, a known error code, http_5xx, "
    "other_error, timeout, connection_error).",
    ["method", "outcome"],
)
SLACK_SECONDS = Histogram(
    "quota_bot_slack_call_seconds",
    "Slack Web API call latency by method, retries and Retry-After waits included.",
    ["method"],
    buckets=_CALL_BUCKETS,
)
DIGESTS = Counter(
    "quota_bot_digests",
    "Scheduled digests by outcome: sent, partial (in the channel, its thread cut short), "
    "failed (nothing posted).",
    ["outcome"],
)
DIGESTS_LATE = Counter(
    "quota_bot_digests_late", "Scheduled digests sent marked late (long after their slot)."
)
DIGEST_DELAY = Histogram(
    "quota_bot_digest_delay_seconds",
    "How long after its scheduled slot a digest's delivery started.",
    buckets=_DELAY_BUCKETS,
)
ALERTS = Counter(
    "quota_bot_alerts_posted",
    "Alerts posted to channels: kind=quota by level (low, soon, exhausted, failing, "
    "recovered), kind=spike by post (start, end).",
    ["kind", "level"],
)
ALERTS_FAILED = Counter(
    "quota_bot_alerts_failed", "Alerts Slack did not take, by kind (quota, spike).", ["kind"]
)
SCHEDULER_LAST_ROUND = Gauge(
    "quota_bot_scheduler_last_round_timestamp_seconds",
    "Unix time the last scheduler round of each loop (digests, alerts) finished; "
    "time() minus it is how long the scheduler has been silent.",
    ["loop"],
    multiprocess_mode="max",
)
DATABASE_UNAVAILABLE = Counter(
    "quota_bot_database_unavailable",
    "Database units of work that failed as unavailable, by reason (timeout: no answer within "
    "DATABASE_TIMEOUT; error: connection trouble).",
    ["reason"],
)
IN_FLIGHT = Gauge(
    "quota_bot_in_flight",
    "Work in flight after its ack (cards being read, scheduler rounds), as MAX_IN_FLIGHT counts.",
    multiprocess_mode="livesum",
)

# Slack error codes worth telling apart; any other is `other_error`.
_SLACK_ERRORS = frozenset(
    {
        "ratelimited",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "user_not_found",
        "no_permission",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


def slack_outcome(error: str | None) -> str:
    """A bounded label for what a Slack Web API call came to (`error`: Slack's code)."""
    if error is None:
        return "ok"
    if error in _SLACK_ERRORS:
        return error
    if error == "rate_limited":
        return "ratelimited"
    if error.startswith("http_5"):
        return "http_5xx"
    return "other_error"


def slack_method(name: str) -> str:
    """The Web API method as a label: the bot calls a fixed set, but a name is checked anyway."""
    if len(name) <= 40 and name.replace(".", "").isalpha() and "." in name:
        return name
    return "other"


def serve(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> Any | None:
    """Start the metrics listener (a daemon thread); the server, or None after one warning line
    when it cannot listen there. Metrics are an aid: they never stop the bot."""
    try:
        server, _ = _start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            problem = "is in use: give each process on this host its own METRICS_PORT"
        elif isinstance(exc, socket.gaierror):
            problem = f"cannot be listened on (METRICS_HOST {host} is not an address here)"
        else:
            problem = f"cannot be listened on ({exc.strerror or type(exc).__name__})"
        logger.warning(
            "METRICS_PORT %d on %s %s; metrics are not served by this process", port, host, problem
        )
        return None
    logger.info("Serving metrics on http://%s:%d/metrics", host, port)
    return server


def share_between_processes() -> tuple[CollectorRegistry, str | None]:
    """Multiprocess mode for processes started from here on (they read PROMETHEUS_MULTIPROC_DIR
    as they import prometheus_client): the registry that sums them, and the temporary directory
    made for them (None when the operator set one), for `unshare` to remove."""
    from prometheus_client import multiprocess

    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = tempfile.mkdtemp(prefix="quota-bot-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry, made


def unshare(directory: str | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
