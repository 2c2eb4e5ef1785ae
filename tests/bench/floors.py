"""The floors the bot is compared with: bare Bolt apps served by uvicorn, each in its own process.

* same-job: acks `/quota <alias>`, reads the application and the global balance (like the bot)
  with one shared `httpx.AsyncClient`, and posts a card with Bolt's `respond()`. No database,
  no replay check, no authorization lookups (a fixed `authorize`, so Bolt never calls
  auth.test): what the job costs on this stack without the bot's own work.
* bare: acks with a fixed card (in_channel blocks) in the ack itself: HTTP, signature check and
  Bolt's dispatch, nothing else.

Both keep Bolt's signature verification on. `python -m tests.bench.floors same-job|bare --port P
--ace-url URL --secret S`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import httpx
import uvicorn
from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from .common import BOT_TOKEN, BOT_USER_ID, PLATFORM_TOKEN, TEAM_ID, alias_map

DEADLINE = 8.0  # the bot's own QUOTA_DEADLINE


def card(app: dict[str, Any], balance: dict[str, Any] | None, alias: str) -> list[dict[str, Any]]:
    """A card of about the bot's size: header, figures, context, two buttons."""
    remaining, used = app["remaining_amount"], app["used_amount"]
    total = float(remaining) + float(used)
    left = f"{float(remaining) * 100 / total:.1f} %" if total else "—"
    unit = app["service"]["unit"]
    global_left = f"{balance['remaining_amount']:,.2f} {unit}" if balance else "unavailable"
    fields = [
        f"*Remaining*\n{float(remaining):,.2f} {unit}",
        f"*Used*\n{float(used):,.2f} {unit}",
        f"*Left*\n{left}",
        f"*Global fallback*\n{'ON' if app['allow_consume_global'] else 'OFF'}",
        f"*Global balance*\n{global_left}",
    ]
    value = f'{{"a":"{alias}","id":"{app["id"]}"}}'
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"Midjourney · {alias}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Application `{app['id']}`"}]},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "toggle:enable",
                    "text": {"type": "plain_text", "text": "Enable global fallback"},
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": "refresh",
                    "text": {"type": "plain_text", "text": "Refresh"},
                    "value": value,
                },
            ],
        },
    ]


async def fixed_authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None,
        team_id=TEAM_ID,
        bot_user_id=BOT_USER_ID,
        bot_id="BBENCH001",
        bot_token=BOT_TOKEN,
    )


def _app(secret: str, slack_api_url: str) -> AsyncApp:
    return AsyncApp(
        signing_secret=secret,
        authorize=fixed_authorize,
        client=AsyncWebClient(base_url=slack_api_url),
        logger=logging.getLogger("floor"),
    )


def same_job(secret: str, slack_api_url: str, ace_url: str) -> AsyncApp:
    app = _app(secret, slack_api_url)
    aliases = alias_map()
    # httpx's default pool (100 connections; the bot's own client allows 50). Its own timeouts
    # rather than cancelling: a request cancelled inside httpx can leave the pool unusable.
    http = httpx.AsyncClient(
        base_url=ace_url.rstrip("/") + "/api/v1",
        headers={"authorization": f"Bearer {PLATFORM_TOKEN}", "accept": "application/json"},
        timeout=httpx.Timeout(DEADLINE),
    )
    global_params = {"user_id": "me", "limit": "100", "offset": "0", "scope": "Global"}

    @app.command("/quota")
    async def quota(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        alias = command["text"].strip().lower()
        app_id = aliases.get(alias)
        if app_id is None:
            await respond(response_type="ephemeral", text=f"No alias {alias}.")
            return
        try:
            application, balances = await asyncio.gather(
                http.get(f"/applications/{app_id}"),
                http.get("/applications/", params=global_params | {"type": "Usage"}),
            )
        except httpx.HTTPError:
            await respond(
                response_type="ephemeral",
                text=f"Ace Data Cloud did not answer in time for {alias}; try again shortly.",
            )
            return
        items = balances.json().get("items") or []
        await respond(
            response_type="in_channel",
            text=f"{alias}: quota card",
            blocks=card(application.json(), items[0] if items else None, alias),
        )

    return app


def bare(secret: str, slack_api_url: str) -> AsyncApp:
    app = _app(secret, slack_api_url)
    fixed = card(
        {
            "id": "00000000-5e4f-4a3b-8c2d-000000000000",
            "remaining_amount": 493.221,
            "used_amount": 21.779,
            "allow_consume_global": False,
            "service": {"unit": "Credits"},
        },
        {"remaining_amount": 1234.5},
        "prod",
    )

    @app.command("/quota")
    async def quota(ack: AsyncAck) -> None:
        await ack(response_type="in_channel", text="prod: quota card", blocks=fixed)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["same-job", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--slack-api-url", required=True)
    parser.add_argument("--ace-url", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.kind == "same-job":
        app = same_job(args.secret, args.slack_api_url, args.ace_url)
    else:
        app = bare(args.secret, args.slack_api_url)
    uvicorn.run(
        AsyncSlackRequestHandler(app),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
