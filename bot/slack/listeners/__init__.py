"""Every Slack interaction the bot answers, one line each: the routing table."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ...runtime import Runtime
from . import commands
from .buttons import card, snooze
from .events import app_home_opened, uninstall
from .views import token


def register(app: AsyncApp, runtime: Runtime) -> None:
    uninstall.register(app, runtime)
    commands.register(app, runtime)
    card.register(app, runtime)
    snooze.register(app, runtime)
    token.register(app, runtime)
    app_home_opened.register(app, runtime)
