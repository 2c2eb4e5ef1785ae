"""Workflow Builder steps (the `functions` of manifest.yml), one module each."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from . import get_quota, post_quota_card, request_fallback, unknown


def register(app: AsyncApp, runtime: Runtime) -> None:
    get_quota.register(app, runtime)  # Get quota
    post_quota_card.register(app, runtime)  # Post quota card
    request_fallback.register(app, runtime)  # Request global fallback
    unknown.register(app, runtime)  # any other: completed with an error (registered last)
