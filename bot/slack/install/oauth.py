"""OAuth mode: Bolt's install flow (`/slack/install`, `/slack/oauth_redirect`) on our stores,
with pages that say plainly what happened and what to do next."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import urlencode

from slack_bolt import BoltResponse
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncBoltRequest
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ...db.database import DatabaseUnavailable
from ...db.installations import (
    STATE_EXPIRATION_SECONDS,
    EncryptedInstallationStore,
)
from ...db.models import utcnow
from ...runtime import Runtime
from ...services import installs
from .state import SignedStates

logger = logging.getLogger(__name__)

# What the code calls (manifest.yml declares the same; a test keeps them equal).
BOT_SCOPES = ("commands", "chat:write", "users:read", "links:read", "links:write")
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
_OAUTH_PARAMETERS = frozenset({"code", "state", "error", "team"})
_TEAM_ID = re.compile(r"T[A-Z0-9]{1,31}")

_REASON = re.compile(r"[a-z_]{1,64}")
_START_AGAIN = f'<a href="{INSTALL_PATH}">Start the installation again</a>.'
_FAILURES = {
    "access_denied": "The installation was cancelled in Slack, so nothing was installed.",
    "invalid_browser": (
        "This installation was started in another browser, or its link expired: the cookie "
        "that ties it to this browser is missing. Nothing was installed."
    ),
    "invalid_state": (
        "This installation link has expired or was already used. Nothing was installed."
    ),
    "missing_code": "Slack's answer did not include an authorization code. Nothing was installed.",
    "invalid_code": (
        "Slack did not accept the authorization code (it may have been used already or "
        "expired). Nothing was installed."
    ),
    "storage_error": "The installation could not be saved. Nothing was installed; try again.",
}


class _NoAuthorizationCode(logging.Filter):
    """Bolt logs a failed code exchange with the code (anyone's input) and Slack's whole
    answer in it; one fixed line says it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "oauth.v2.access" in str(record.msg):
            record.msg = "Slack's oauth.v2.access refused the authorization code"
            record.args = None
        return True


def create_oauth_flow(
    runtime: Runtime, store: EncryptedInstallationStore, client: AsyncWebClient
) -> AsyncOAuthFlow:
    settings = runtime.settings
    flow_logger = logging.getLogger(f"{__name__}.flow")
    if not any(isinstance(f, _NoAuthorizationCode) for f in flow_logger.filters):
        flow_logger.addFilter(_NoAuthorizationCode())

    async def succeeded(args: AsyncSuccessArgs) -> BoltResponse:
        return await _installed(runtime, args)

    async def failed(args: AsyncFailureArgs) -> BoltResponse:
        return _failed(args)

    secret = settings.slack_client_secret
    return AsyncOAuthFlow(
        client=client,
        logger=flow_logger,
        settings=AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            callback_options=AsyncCallbackOptions(success=succeeded, failure=failed),
            installation_store=store,
            installation_store_bot_only=True,
            state_store=SignedStates(
                secret.get_secret_value() if secret else "",
                runtime.replays,
                expiration_seconds=STATE_EXPIRATION_SECONDS,
            ),
            state_expiration_seconds=STATE_EXPIRATION_SECONDS,
            logger=flow_logger,
        ),
    )


async def _installed(runtime: Runtime, args: AsyncSuccessArgs) -> BoltResponse:
    installation = args.installation
    team = installation.team_id
    where = f"team={team} enterprise={installation.enterprise_id}"
    next_steps = (
        "<p>Next, in Slack: <code>/quota token</code> to set the Ace Data Cloud token, then "
        "<code>/quota link prod &lt;application-id&gt;</code>. <code>/quota help</code> lists "
        "the rest.</p>"
    )
    if team is None:  # org-wide: each workspace of the org is set up on its own
        try:
            resumed = await installs.installed_org_wide(
                runtime.db,
                enterprise_id=str(installation.enterprise_id),
                installer=installation.user_id,
                now=utcnow(),
            )
        except DatabaseUnavailable as exc:
            logger.warning("Installed org-wide (%s), paused work not resumed: %s", where, exc)
        else:
            logger.info(
                "Installed org-wide (%s): %d paused digest(s)/alert(s) resumed", where, resumed
            )
        return _page(200, "Quota Bot is installed in your organization", next_steps, args)
    try:
        outcome = await installs.installed(
            runtime.db,
            team_id=team,
            enterprise_id=installation.enterprise_id,
            installer=installation.user_id,
            now=utcnow(),
        )
    except DatabaseUnavailable as exc:
        logger.warning("Installed (%s), but its setup was not recorded: %s", where, exc)
        admin_line = ""
    else:
        logger.info(
            "Installed (%s): first admin=%s, %d paused digest(s)/alert(s) resumed",
            where,
            outcome.first_admin,
            outcome.resumed,
        )
        admin_line = "<p>You are its first bot admin.</p>" if outcome.first_admin else ""
    name = html.escape(installation.team_name or team)
    return _page(200, f"Quota Bot is installed in {name}", admin_line + next_steps, args)


def _failed(args: AsyncFailureArgs) -> BoltResponse:
    # `reason` may come from the query string (`error=`): anyone can send anything.
    reason = args.reason if _REASON.fullmatch(args.reason) else "unrecognised error"
    logger.warning("Installation failed: %s", reason)
    explanation = _FAILURES.get(reason, f"Slack reported “{reason}”. Nothing was installed.")
    return _page(
        args.suggested_status_code,
        "Quota Bot was not installed",
        f"<p>{explanation}</p><p>{_START_AGAIN}</p>",
        args,
    )


def _page(
    status: int, title: str, body: str, args: AsyncSuccessArgs | AsyncFailureArgs
) -> BoltResponse:
    """A small HTML page; the state cookie is deleted either way."""
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    )
    return BoltResponse(
        status=status,
        body=document,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Set-Cookie": args.settings.state_utils.build_set_cookie_for_deletion(),
        },
    )


async def serve_oauth(request: Request, flow: AsyncOAuthFlow | None) -> Response:
    """`/slack/install` and `/slack/oauth_redirect`: Bolt's OAuth flow, in OAuth mode."""
    if flow is None:
        return PlainTextResponse(
            "Installing through OAuth is not enabled on this deployment (it serves one "
            "workspace; set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to enable it).",
            status_code=404,
        )
    # Only what the flow reads: Bolt copies an install link's `team` into Slack's URL.
    query = {
        name: value
        for name, value in request.query_params.items()
        if name in _OAUTH_PARAMETERS and len(value) <= 512
    }
    if not _TEAM_ID.fullmatch(query.get("team", "T0")):
        del query["team"]
    bolt_request = AsyncBoltRequest(
        body="",
        query=urlencode(query),
        headers=dict(request.headers),  # type: ignore[arg-type]
    )
    try:
        if request.url.path == INSTALL_PATH:
            answer = await flow.handle_installation(bolt_request)
        else:
            answer = await flow.handle_callback(bolt_request)
    except Exception as exc:  # the stores' database, or Slack, failed mid-flow
        logger.warning("OAuth %s failed: %s", request.url.path, type(exc).__name__)
        return PlainTextResponse(
            "Quota Bot could not finish this step (its database or Slack did not answer); "
            "nothing was installed. Start again at /slack/install in a minute.",
            status_code=503,
        )
    return to_starlette_response(answer)
