"""Log lines as text or as JSON (LOG_FORMAT), and the Slack request each line belongs to.

The ingress opens a `RequestContext` for each Slack request it admits: the workspace and
channel from the verified envelope and a random request id, carried by every line logged while
serving it (the work after its ack included: asyncio copies the context into each task). A line
never holds a request's body, and none of these fields is a secret.
"""

from __future__ import annotations

import json
import logging
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]


@dataclass
class RequestContext:
    kind: str  # command, button, view, event, other
    received_at: float  # the event loop's clock when the request arrived
    team: str | None = None
    channel: str | None = None
    request_id: str = ""
    answered: bool = False  # a first message reached the command's response_url
    refused_as: str | None = None  # busy or replay, when refused for that before its ack

    def __post_init__(self) -> None:
        self.request_id = self.request_id or secrets.token_hex(8)


_request: ContextVar[RequestContext | None] = ContextVar("quota_bot_request", default=None)


def begin_request(context: RequestContext) -> RequestContext:
    """Make `context` the request at hand for this task and the tasks it starts."""
    _request.set(context)
    return context


def forget_request() -> None:
    """No request at hand any more (a task that serves one request after another)."""
    _request.set(None)


def current_request() -> RequestContext | None:
    return _request.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the request's team,
    channel and request_id when there is one (an exception's traceback under `exception`)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = _request.get()
        if request is not None:
            line |= {"team": request.team, "channel": request.channel}
            line["request_id"] = request.request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: LogFormat = "text") -> None:
    """One handler on the root logger, at INFO, in `log_format`; called again, it changes the
    format. Logging someone else configured first (a test runner) is left as it is."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "quota_bot", False)]
    if not ours:
        if root.handlers:
            return
        handler = logging.StreamHandler()
        handler.quota_bot = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        ours = [handler]
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in ours:
        handler.setFormatter(formatter)
