"""Every Slack interaction the bot answers, registered one line each: the routing table.

My room and what I may touch:
1. One Slack interaction = one module under `listeners/<kind>/`, registered by one line here.
   It may import services, blocks, ids, outbound and the listener contexts (`context`,
   `pipeline`, `buttons/card_context`, `buttons/key_context`, `buttons/fallback_switch`,
   `functions/step`) — never `bot.db`, SQLAlchemy, the Ace Data
   Cloud client (its error classes excepted), the worker or another listener.
2. `blocks/` is pure (no I/O, no `await`) and owns every sentence a user sees.
3. `ids.py` is the only place a routing string is defined.
4. `services/` never imports Slack. A public function is one unit of work or a named use case
   receiving its Slack I/O as a callable.
5. `worker.py` decides when, never how.
The import-linter contracts in `pyproject.toml` enforce what can be (run `lint-imports`).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from ...runtime import Runtime
from . import commands, functions
from .buttons import (
    approval,
    console_links,
    home_token,
    key_actions,
    refresh_card,
    refresh_unfurl,
    refresh_usage,
    snooze,
    spike_snooze,
    toggle_fallback,
)
from .events import app_home_opened, link_shared, uninstall
from .views import enable_fallback, key_cap, token


def register(app: AsyncApp, runtime: Runtime) -> None:
    uninstall.register(app, runtime)  # app_uninstalled, tokens_revoked
    commands.register(app, runtime)  # /quota
    toggle_fallback.register(app, runtime)
    enable_fallback.register(app, runtime)  # the Enable dialog's submission: for how long
    approval.register(app, runtime)  # Approve, Reject (two-person approval)
    refresh_card.register(app, runtime)
    snooze.register(app, runtime)
    refresh_usage.register(app, runtime)
    key_actions.register(app, runtime)  # Set cap…, Pause key, Resume key
    spike_snooze.register(app, runtime)
    home_token.register(app, runtime)
    console_links.register(app, runtime)  # link buttons: acknowledged only
    token.register(app, runtime)  # the token dialog's submission
    key_cap.register(app, runtime)  # the Set cap dialog's submission
    app_home_opened.register(app, runtime)
    link_shared.register(app, runtime)  # console links unfurl as a compact card
    refresh_unfurl.register(app, runtime)
    functions.register(app, runtime)  # Workflow Builder steps
