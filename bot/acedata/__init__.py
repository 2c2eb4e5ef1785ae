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
from .models import (
    ApiDayAmount,
    ApiKey,
    ApiUsage,
    Application,
    DailyUsage,
    Service,
    TokenOwner,
    UsageRecord,
)

__all__ = [
    "AceDataClient",
    "AceDataError",
    "ApiDayAmount",
    "ApiKey",
    "ApiUsage",
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
    "UsageRecord",
]
