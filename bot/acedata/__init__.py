"""Ace Data Cloud platform API: typed models, one exception hierarchy, an async client."""

from .client import AceDataClient
from .errors import (
    AceDataError,
    InvalidToken,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from .models import Application, DailyUsage, Service, TokenOwner

__all__ = [
    "AceDataClient",
    "AceDataError",
    "Application",
    "DailyUsage",
    "InvalidToken",
    "MalformedResponse",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "Service",
    "TokenOwner",
    "UpstreamError",
    "UpstreamTimeout",
]
