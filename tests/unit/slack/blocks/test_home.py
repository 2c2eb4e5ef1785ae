"""The App Home as pure functions: valid Block Kit views within Slack's limits for any workspace
(0, 1, 200 aliases and more; admin and member; token set or not), no alias left out without a
line that counts it, nothing injected, and the token never more than its last four characters."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.acedata import Application, UpstreamTimeout
from bot.services.alert_levels import AlertState, Level, Threshold
from bot.services.alerts import Watch
from bot.services.aliases import LinkedAlias
from bot.services.audit import AuditEntry
from bot.services.digests import DigestSetup
from bot.services.forecast import Forecast
from bot.services.home import (
    AdminHome,
    AliasReading,
    HomeAlert,
    MemberHome,
    TokenSource,
    TokenStatus,
)
from bot.services.quota import QuotaSnapshot
from bot.services.schedules import Schedule
from bot.slack import blocks
from bot.slack.blocks.home import HOME_READ_LIMIT
from bot.slack.ids import HOME_TOKEN_ACTION
from tests.support.blocks import (
    HOSTILE,
    MAX_CONTEXT_TEXT,
    MAX_HEADER,
    MAX_ID,
    MAX_SECTION_TEXT,
    assert_valid_button,
    mrkdwn_texts,
)
from tests.support.client import GLOBAL_APP_ID, application

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MAX_VIEW_BLOCKS = 100
CHANNEL_MENTION = re.compile(r"<#C[0-9]{4}>")
LAST4 = "c56b"
ACCOUNT = "acme-ops"
# What an admin's Home says and a member's must not.
ADMIN_ONLY = ("Ace Data Cloud token:", LAST4, ACCOUNT, "audit events", "Digests", "Alerts")


def app_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def alias(number: int, *, channel: str | None = None) -> LinkedAlias:
    return LinkedAlias(f"alias-{number:04d}", app_id(number), channel)


def workspace(count: int) -> list[LinkedAlias]:
    """`count` aliases, every third one linked in a channel rather than workspace-wide."""
    return [
        alias(number, channel=f"C{number % 10000:04d}" if number % 3 else None)
        for number in range(count)
    ]


def snapshot(
    number: int,
    *,
    remaining: Any = 444,
    used: Any = 556,
    allow: bool = False,
    title: str = "Midjourney",
    outlook: Forecast | None = None,
) -> QuotaSnapshot:
    data = application(app_id(number), remaining=remaining, used=used, allow=allow, title=title)
    balance = application(GLOBAL_APP_ID, remaining=1234.5, used=0, scope="Global")
    return QuotaSnapshot(
        Application.model_validate(data), Application.model_validate(balance), NOW, outlook
    )


def read(aliases: list[LinkedAlias], *, failing: tuple[int, ...] = ()) -> list[AliasReading]:
    """The first HOME_READ_LIMIT aliases read, as the service does; those in `failing` timed out."""
    readings = []
    for number, linked in enumerate(aliases[:HOME_READ_LIMIT]):
        if number in failing:
            error = UpstreamTimeout("Ace Data Cloud did not answer in time")
            readings.append(AliasReading(linked, None, error))
        else:
            readings.append(AliasReading(linked, snapshot(number), None))
    return readings


def token(source: TokenSource = "workspace") -> TokenStatus:
    if source == "workspace":
        return TokenStatus(source, ACCOUNT, LAST4, "UADMIN", NOW - timedelta(days=1))
    return TokenStatus(source)


def digest(number: int, *, paused: str | None = None) -> DigestSetup:
    schedule = Schedule("daily", time(9, 0), ZoneInfo("Europe/Berlin"))
    return DigestSetup("T0001", f"C{number:04d}", schedule, NOW, paused, "UADMIN")


def alert(number: int, *, said: Level = Level.OK, paused: str | None = None) -> HomeAlert:
    watch = Watch(
        number,
        "T0001",
        f"C{number:04d}",
        f"alias-{number:04d}",
        Threshold("percent", Decimal(10)),
        AlertState(said=said),
        "UADMIN",
        None,
    )
    return HomeAlert(watch, paused)


def event(number: int) -> AuditEntry:
    return AuditEntry(
        NOW - timedelta(minutes=number),
        "UADMIN",
        "alias_linked",
        "changed",
        f"alias-{number:04d}",
        app_id(number),
        None,
        None,
        app_id(number),
        None,
        "workspace",
    )


def admin_home(
    aliases: list[LinkedAlias],
    *,
    source: TokenSource = "workspace",
    readings: list[AliasReading] | None = None,
    digests: int = 2,
    alerts: int = 2,
    admins: int = 2,
    events: int = 10,
) -> AdminHome:
    if readings is None:
        readings = (
            read(aliases)
            if source in {"workspace", "operator"}
            else [AliasReading(linked, None, None) for linked in aliases[:HOME_READ_LIMIT]]
        )
    return AdminHome(
        token(source),
        aliases,
        readings,
        [digest(number) for number in range(digests)],
        [alert(number) for number in range(alerts)],
        [f"U{number:08d}" for number in range(admins)],
        [event(number) for number in range(events)],
    )


def assert_valid_view(view: dict[str, Any]) -> list[dict[str, Any]]:
    """A Home view slack_sdk's models accept, within Slack's limits; its blocks."""
    json.dumps(view)
    assert view["type"] == "home"
    parsed = View(**view)
    parsed.validate_json()
    assert parsed.to_dict() == view
    items = view["blocks"]
    assert 0 < len(items) <= MAX_VIEW_BLOCKS, len(items)
    for block in items:
        model = Block.parse(block)
        assert model is not None, block
        model.validate_json()
        assert model.to_dict() == block
        assert len(block.get("block_id", "")) <= MAX_ID
        match block["type"]:
            case "header":
                assert 0 < len(block["text"]["text"]) <= MAX_HEADER
            case "section":
                assert 0 < len(block["text"]["text"]) <= MAX_SECTION_TEXT
                if "accessory" in block:
                    assert_valid_button(block["accessory"])
            case "context":
                for element in block["elements"]:
                    assert 0 < len(element["text"]) <= MAX_CONTEXT_TEXT
    return items


def text_of(view: dict[str, Any]) -> str:
    return "\n".join(mrkdwn_texts(view["blocks"]))


def assert_every_alias_accounted_for(view: dict[str, Any], aliases: list[LinkedAlias]) -> None:
    """Each alias is named, or counted in a "…and K more" line."""
    text = text_of(view)
    missing = [linked for linked in aliases if f"*{linked.name}*" not in text]
    more = [int(count) for count in re.findall(r"…and (\d+) more; use `/quota list`", text)]
    assert len(missing) == sum(more), (len(missing), more)


def token_button(view: dict[str, Any]) -> dict[str, Any]:
    (button,) = [
        block["accessory"]
        for block in view["blocks"]
        if block.get("accessory", {}).get("action_id") == HOME_TOKEN_ACTION
    ]
    return button


# --- admins ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 200])
@pytest.mark.parametrize("source", ["workspace", "none", "unreadable", "operator"])
def test_admin_home_is_valid_at_any_size_and_token_state(count: int, source: TokenSource) -> None:
    aliases = workspace(count)
    view = blocks.admin_home_view(admin_home(aliases, source=source))
    assert_valid_view(view)
    assert_every_alias_accounted_for(view, aliases)
    text = text_of(view)
    assert "Ace Data Cloud token:" in text
    assert "audit events" in text
    assert "Digests* (2)" in text and "Alerts* (2)" in text
    assert "<@U00000001>" in text  # a listed admin


def test_admin_home_with_the_token_set_shows_its_account_and_last_four_only() -> None:
    view = blocks.admin_home_view(admin_home(workspace(1)))
    text = text_of(view)
    assert f"set for the account *{ACCOUNT}*, ending in `{LAST4}`" in text
    assert "by <@UADMIN>" in text
    assert token_button(view)["text"]["text"] == "Replace token"


@pytest.mark.parametrize("source", ["none", "unreadable", "operator"])
def test_admin_home_without_a_token_offers_to_set_one(source: TokenSource) -> None:
    view = blocks.admin_home_view(admin_home(workspace(3), source=source))
    text = text_of(view)
    assert LAST4 not in text and ACCOUNT not in text
    button = token_button(view)
    assert (button["text"]["text"], button["style"]) == ("Set token", "primary")
    if source == "none":
        assert "*Ace Data Cloud token:* not set." in text
        assert "Quotas are not shown" in text
        # Aliases are still listed, with what they point to.
        assert f"*alias-0000* · workspace-wide → `{app_id(0)}`" in text
    if source == "operator":
        assert "`ACEDATA_PLATFORM_TOKEN`" in text


def test_admin_home_shows_each_read_alias_with_quota_forecast_and_fallback() -> None:
    outlook = Forecast(Decimal(74), NOW + timedelta(days=6), None, (Decimal(74),) * 7)
    linked = [alias(0), alias(1, channel="C0001")]
    readings = [
        AliasReading(linked[0], snapshot(0, outlook=outlook), None),
        AliasReading(linked[1], snapshot(1, remaining=10, used=990, allow=True), None),
    ]
    view = blocks.admin_home_view(admin_home(linked, readings=readings))
    text = text_of(view)
    assert "*Aliases* (2) · global balance 1,234.50 Credits" in text
    assert "*alias-0000* · workspace-wide — Midjourney: 444.00 Credits left (44.4%)" in text
    assert "≈ 74 Credits/day · runs out in ~6 days" in text
    assert "global fallback OFF" in text
    assert "*alias-0001* · <#C0001> — Midjourney: 10.00 Credits left (1.0%)" in text
    assert "global fallback ON" in text


def test_an_unreadable_alias_says_unavailable_and_the_others_still_show() -> None:
    aliases = workspace(5)
    view = blocks.admin_home_view(admin_home(aliases, readings=read(aliases, failing=(2,))))
    text = text_of(view)
    (line,) = [line for line in text.splitlines() if line.startswith("• *alias-0002* · ")]
    assert f"`{app_id(2)}`: *unavailable*" in line
    assert "did not answer in time" in line
    for number in (0, 1, 3, 4):
        assert f"*alias-{number:04d}* · " in text
    assert text.count("444.00 Credits left") == 4


def test_at_200_aliases_the_first_are_read_and_the_rest_are_listed_with_a_line_saying_so() -> None:
    aliases = workspace(200)
    view = blocks.admin_home_view(admin_home(aliases))
    assert_valid_view(view)
    text = text_of(view)
    assert text.count("444.00 Credits left") == HOME_READ_LIMIT
    assert f"The other {200 - HOME_READ_LIMIT} are not read here: `/quota list`" in text
    for linked in aliases[HOME_READ_LIMIT:]:
        assert f"*{linked.name}* · " in text
    assert "…and" not in text  # all 200 fit


def test_thousands_of_everything_stay_within_limits_and_are_counted() -> None:
    aliases = workspace(3000)
    home = admin_home(aliases, digests=400, alerts=400, admins=300, events=20)
    view = blocks.admin_home_view(home)
    assert_valid_view(view)
    assert_every_alias_accounted_for(view, aliases)
    text = text_of(view)
    assert "Digests* (400)" in text and "Alerts* (400)" in text
    assert re.search(r"…and \d+ more; `/quota digest` in a channel", text)
    assert re.search(r"…and \d+ more; `/quota alert` in a channel", text)
    assert "260 more listed: `/quota admins` shows all" in text


def test_digests_and_alerts_say_where_and_when_and_what_is_paused() -> None:
    home = admin_home(workspace(1), digests=0, alerts=0)
    home = AdminHome(
        home.token,
        home.aliases,
        home.readings,
        [digest(1), digest(2, paused="not_in_channel")],
        [alert(3, said=Level.LOW), alert(4, paused="channel_not_found")],
        home.admins,
        home.audit,
    )
    text = text_of(blocks.admin_home_view(home))
    assert "• <#C0001> — Daily digest at 09:00 Europe/Berlin · next <!date^" in text
    assert "• <#C0002> — Daily digest at 09:00 Europe/Berlin · *paused* (Slack said " in text
    assert "• *alias-0003* in <#C0003> below 10.0% left: low" in text
    assert "*alias-0004* in <#C0004> below 10.0% left: ok · *paused*" in text


def test_an_empty_workspace_says_how_to_start() -> None:
    view = blocks.admin_home_view(admin_home([], digests=0, alerts=0, admins=0, events=0))
    text = text_of(view)
    assert "*Aliases*\nNone yet. `/quota link &lt;alias&gt; &lt;application-id&gt;`" in text
    assert "*Digests*\nNone." in text and "*Alerts*\nNone." in text
    assert "No extra bot admins are listed." in text
    assert "No audit events yet." in text


def test_outside_text_is_escaped() -> None:
    hostile = TokenStatus("workspace", HOSTILE, LAST4, "UADMIN", NOW)
    linked = [alias(0)]
    readings = [AliasReading(linked[0], snapshot(0, title=HOSTILE), None)]
    home = admin_home(linked, readings=readings)
    view = blocks.admin_home_view(AdminHome(hostile, linked, readings, [], [], [], home.audit))
    for text in mrkdwn_texts(view["blocks"]):
        without = re.sub(r"<!date\^\d+\^[^|>]*\|[^>]*>", "", text)
        without = re.sub(r"<@U[A-Z0-9]+>|<#C[0-9]+>", "", without)
        assert "<" not in without, text


# --- members -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 200])
@pytest.mark.parametrize("role_unknown", [False, True])
def test_member_home_is_valid_lists_every_alias_and_has_the_help(
    count: int, role_unknown: bool
) -> None:
    aliases = workspace(count)
    view = blocks.member_home_view(MemberHome(aliases), role_unknown=role_unknown)
    assert_valid_view(view)
    assert_every_alias_accounted_for(view, aliases)
    text = text_of(view)
    assert "`/quota help` — this help" in text
    for word in ADMIN_ONLY:
        assert word not in text
    assert not [block for block in view["blocks"] if "accessory" in block]
    assert ("could not confirm your role" in text) is role_unknown
    if count:
        assert f"*Aliases in this workspace* ({count})" in text
        assert "…and" not in text  # 200 aliases fit, names and IDs
    else:
        assert "None are linked yet." in text


def test_member_home_counts_channel_aliases_without_naming_them() -> None:
    counted = text_of(blocks.member_home_view(MemberHome([alias(0)], channel_aliases=3)))
    alone = text_of(blocks.member_home_view(MemberHome([alias(0)])))

    assert f"• *alias-0000* · workspace-wide → `{app_id(0)}`" in counted
    assert "3 more linked to single channels: `/quota list` in a channel" in counted
    assert "single channels" not in alone


def test_member_home_counts_what_does_not_fit() -> None:
    aliases = workspace(5000)
    view = blocks.member_home_view(MemberHome(aliases))
    assert_valid_view(view)
    assert_every_alias_accounted_for(view, aliases)
    assert re.search(r"…and \d+ more; use `/quota list` in a channel", text_of(view))


# --- the rest ----------------------------------------------------------------------------


def test_the_problem_view_and_the_notice_modal_are_valid() -> None:
    view = blocks.home_problem_view(blocks.HOME_UNAVAILABLE_DATABASE)
    assert_valid_view(view)
    assert "can't reach its database" in text_of(view)
    modal = blocks.notice_modal(blocks.not_admin("set the Ace Data Cloud token"))
    View(**modal).validate_json()
    assert modal["type"] == "modal"
    assert "Only bot admins can set the Ace Data Cloud token" in json.dumps(modal)
