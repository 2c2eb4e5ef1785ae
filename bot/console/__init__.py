"""`quota-bot console`: try the bot with only an Ace Data Cloud token, before any Slack app.

The console is a Slack client of the real app, in-process: it signs each `/quota` command,
button press and dialog submission with a secret of its own session and sends it through the
real ASGI app (so signature checks and every listener run as in production), and a local
stand-in (`stand_in`) answers the Slack Web API calls the bot makes, keeping what it posts so
it is printed here as text (`render`).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from ..config import Settings, load_settings
from ..runtime import Runtime
from ..slack.ids import TOKEN_MODAL_CALLBACK
from ..web import create_web_app
from .render import Button, render_message
from .stand_in import CHANNEL_ID, TEAM_ID, USER_ID, Posted, StandIn

T = TypeVar("T")
DEFAULT_DATABASE_URL = "sqlite:///quota-bot-console.db"
MARKS = {"ephemeral": "(only you)", "thread": "(in thread)", "update": "(updated)"}
FORM = "application/x-www-form-urlencoded"
# A line that looks like a platform token where a command was expected is never sent.
TOKEN_SHAPE = re.compile(r"platform-v\d+-\S{8,}")
NOT_SENT = (
    "That looks like an Ace Data Cloud token: it was not sent (a command would show it). "
    "Type `token` first; the token dialog then asks for it.\n"
)
HELLO = (
    "Type what you would type after /quota (try `help`, then `token`); a button's number "
    "presses it; `exit` or end of input leaves."
)


def console_database() -> str:
    """DATABASE_URL when set, else a SQLite file of the console's own in this directory."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def session_settings(settings: Settings, api_url: str) -> Settings:
    """`settings` (Ace Data Cloud, database, encryption key) with Slack's replaced by the
    session's own: no Slack setting is needed or used."""
    return load_settings(
        database_url=settings.database_url,
        slack_signing_secret=secrets.token_hex(16),
        slack_bot_token="xoxb-console-" + secrets.token_hex(8),
        slack_client_id=None,
        slack_client_secret=None,
        slack_app_token=None,
        slack_api_url=api_url,
    )


class Console:
    def __init__(self, app: Starlette, settings: Settings, stand_in: StandIn) -> None:
        self.app = app
        self.stand_in = stand_in
        secret = settings.slack_signing_secret
        self.verifier = SignatureVerifier(secret.get_secret_value() if secret else "")
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console"
        )
        self.buttons: list[tuple[Button, Posted]] = []
        self.interactive = sys.stdin.isatty()

    async def post(self, fields: dict[str, str]) -> str:
        body = urlencode(fields)
        ts = str(int(time.time()))
        headers = {
            "content-type": FORM,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }
        response = await self.http.post("/slack/events", content=body, headers=headers)
        if response.status_code != 200:
            print(f"(the bot answered HTTP {response.status_code}: {response.text[:200]})")
            return ""
        return response.text

    async def command(self, text: str) -> None:
        fields = {
            "token": "console", "team_id": TEAM_ID, "team_domain": "console",
            "channel_id": CHANNEL_ID, "channel_name": "console", "user_id": USER_ID,
            "user_name": "you", "command": "/quota", "text": text, "api_app_id": "ACONSOLE",
            "is_enterprise_install": "false", "response_url": self.stand_in.new_response_url(),
            "trigger_id": f"trigger.{secrets.token_hex(4)}",
        }  # fmt: skip
        body = await self.post(fields)
        if body:
            self.stand_in.posted.insert(0, Posted("ephemeral", json.loads(body)))
        await self.show()

    async def press(self, number: int) -> None:
        if not 1 <= number <= len(self.buttons):
            print(f"There is no button {number} on the last answer.")
            return
        button, message = self.buttons[number - 1]
        if button.url:
            print(f"Open {button.url}")
        if not await self.confirmed(button.element.get("confirm")):
            return
        await self.post({"payload": json.dumps(self.action_payload(button, message))})
        await self.show()

    async def confirmed(self, confirm: dict[str, Any] | None) -> bool:
        if not confirm:
            return True
        rendered = render_message({"blocks": [{"type": "section", "text": confirm.get("text")}]})
        title = (confirm.get("title") or {}).get("text", "Are you sure?")
        print(title, *rendered.lines, sep="\n")
        answer = await self.ask(f"{(confirm.get('confirm') or {}).get('text', 'Yes')}? [y/N] ")
        return answer.strip().lower() in {"y", "yes"}

    def action_payload(self, button: Button, message: Posted) -> dict[str, Any]:
        ts = message.ts or "1700000000.000000"
        element = button.element
        return {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "console", "enterprise_id": None},
            "user": {"id": USER_ID, "username": "you", "name": "you", "team_id": TEAM_ID},
            "api_app_id": "ACONSOLE",
            "trigger_id": f"trigger.{secrets.token_hex(4)}",
            "is_enterprise_install": False,
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL_ID,
                          "is_ephemeral": message.kind == "ephemeral"},
            "channel": {"id": CHANNEL_ID, "name": "console"},
            "message": {"ts": ts, "blocks": message.body.get("blocks") or [],
                        "text": message.body.get("text")},
            "response_url": self.stand_in.new_response_url(),
            "actions": [{"type": "button", "action_id": element.get("action_id"),
                         "block_id": button.block_id, "value": element.get("value", ""),
                         "text": element.get("text"), "action_ts": str(time.time())}],
            "state": {"values": {}},
        }  # fmt: skip

    async def settle(self) -> None:
        """Wait until the bot has finished what it acknowledged."""
        runtime: Runtime = self.app.state.runtime
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.02)
            quiet = 0 if runtime.in_flight else quiet + 1

    async def show(self) -> None:
        """Print what the bot posted, in order; answer any dialog it opened."""
        await self.settle()
        self.buttons = []
        dialogs: list[Posted] = []
        for posted in self.stand_in.take():
            if posted.kind == "view":
                dialogs.append(posted)
            self.print(posted)
        for dialog in dialogs:
            await self.fill(dialog)

    def print(self, posted: Posted) -> None:
        if posted.kind == "delete":
            print("(message deleted)")
            return
        rendered = render_message(
            posted.body, mark=MARKS.get(posted.kind, ""), first_number=len(self.buttons) + 1
        )
        print("\n".join(rendered.lines))
        print()
        self.buttons += [(button, posted) for button in rendered.buttons]

    async def fill(self, dialog: Posted) -> None:
        """Ask for each input of a dialog on the prompt, then submit it as Slack would."""
        view = dialog.body
        if not view.get("submit"):
            return
        values: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            label = (block.get("label") or {}).get("text", "Value")
            element = block.get("element") or {}
            if element.get("options"):
                state = await self.choose(label, element["options"])
                if state is None:
                    print("(dialog closed)")
                    print()
                    return
            else:
                secret = view.get("callback_id") == TOKEN_MODAL_CALLBACK
                state = {"value": (await self.ask(f"{label}: ", secret=secret)).strip()}
            values[str(block.get("block_id"))] = {
                str(element.get("action_id")): {"type": element.get("type"), **state}
            }
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "console"},
            "user": {"id": USER_ID, "username": "you", "team_id": TEAM_ID},
            "api_app_id": "ACONSOLE", "trigger_id": f"trigger.{secrets.token_hex(4)}",
            "is_enterprise_install": False,
            "view": {"id": view.get("id", "VCONSOLE"), "type": "modal",
                     "callback_id": view.get("callback_id"),
                     "private_metadata": view.get("private_metadata", ""),
                     "blocks": view.get("blocks") or [], "state": {"values": values}},
        }  # fmt: skip
        body = await self.post({"payload": json.dumps(payload)})
        self.submitted(json.loads(body) if body else {})
        await self.show()

    async def choose(self, label: str, options: list[dict[str, Any]]) -> dict[str, Any] | None:
        """One of a radio or select input's options, by number; None (the dialog is closed)
        for an empty or unknown answer."""
        for number, option in enumerate(options, start=1):
            print(f"  {number}. {(option.get('text') or {}).get('text', '')}")
        answer = (await self.ask(f"{label} [1-{len(options)}, empty to cancel]: ")).strip()
        if not answer.isdigit() or not 1 <= int(answer) <= len(options):
            return None
        return {"selected_option": options[int(answer) - 1]}

    def submitted(self, answer: dict[str, Any]) -> None:
        """The dialog's answer to its submission: errors, or a new view in its place."""
        if answer.get("response_action") == "errors":
            for problem in (answer.get("errors") or {}).values():
                print(f"✗ {problem}")
            print()
        elif answer.get("response_action") in {"update", "push"}:
            self.stand_in.posted.insert(0, Posted("view", answer.get("view") or {}))

    async def ask(self, prompt: str, *, secret: bool = False) -> str:
        """A line from the prompt (hidden for a secret), or from standard input when it is not
        a terminal; empty at its end."""
        if not self.interactive:
            print(prompt + ("(read, not shown)" if secret else ""))
            return (await _in_thread(sys.stdin.readline)).rstrip("\n")
        ask = getpass.getpass if secret else input
        try:
            return await _in_thread(ask, prompt)
        except EOFError:
            return ""


async def _in_thread(read: Callable[..., T], *args: Any) -> T:
    """`read(*args)` in a daemon thread: a prompt waiting for a line never keeps Ctrl-C from
    ending the console (asyncio.to_thread's executor would wait for it)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def work() -> None:
        try:
            result = read(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, partial(future.set_exception, exc))
        else:
            loop.call_soon_threadsafe(settle, partial(future.set_result, result))

    threading.Thread(target=work, daemon=True).start()
    return await future


async def _loop(console: Console, read: Callable[[], str | None]) -> None:
    while (line := await _in_thread(read)) is not None:
        text = line.strip().removeprefix("/quota").strip()
        if text in {"exit", "quit"}:
            return
        if not text:
            continue
        if TOKEN_SHAPE.match(text):
            print(NOT_SENT)
        elif text.isdigit():
            await console.press(int(text))
        else:
            await console.command(text)


def _reader(interactive: bool) -> Callable[[], str | None]:
    def read() -> str | None:
        if interactive:
            try:
                return input("/quota ")
            except EOFError:
                return None
        line = sys.stdin.readline()
        return line if line else None

    return read


def describe_database(url: str) -> str:
    """The database URL without its password, to say which one is used."""
    return make_url(url).render_as_string(hide_password=True)


async def run_console(settings: Settings) -> None:
    """The console's session, until `exit` or the end of input; `settings` as read from the
    environment, with the database already migrated."""
    stand_in = StandIn()
    await stand_in.start()
    session = session_settings(settings, stand_in.api_url)
    source = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "the console's own"
    print(
        f"quota-bot console: database {describe_database(session.database_url)} ({source}), "
        f"Ace Data Cloud {session.acedata_base_url}"
    )
    print(HELLO)
    app = create_web_app(session)
    try:
        async with app.router.lifespan_context(app):
            console = Console(app, session, stand_in)
            try:
                await _loop(console, _reader(console.interactive))
            finally:
                await console.http.aclose()
    finally:
        await stand_in.stop()
