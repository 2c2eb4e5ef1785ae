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
from .models import Application, Service, TokenOwner

__all__ = [
    "AceDataClient",
    "AceDataError",
    "Application",
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
