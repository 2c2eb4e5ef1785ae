"""Workflow Builder steps (the `functions` of manifest.yml), one module each."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from . import get_quota, post_quota_card


def register(app: AsyncApp, runtime: Runtime) -> None:
    get_quota.register(app, runtime)  # Get quota
    post_quota_card.register(app, runtime)  # Post quota card
