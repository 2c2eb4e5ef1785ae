"""Block Kit builders as pure functions: every message fits Slack's limits, whatever the data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.acedata import AceDataError, RateLimited, UpstreamError
from bot.services.audit import AuditEntry
from bot.slack import blocks
from tests.support.blocks import (
    AS_OF,
    HOSTILE,
    MAX_HEADER,
    MAX_SECTION_TEXT,
    _walk,
    app,
    assert_escaped,
    assert_valid,
    global_balance,
    mrkdwn_texts,
    snapshot,
)
from tests.support.client import APP_ID, GLOBAL_APP_ID, OTHER_APP_ID

UNREADABLE = "unreadable"
TWO_DECIMALS = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2}$")
PERCENT = re.compile(r"^-?\d+\.\d%$")
LONG_TITLE = ("Mid<!channel>journey & <b>Pro</b> " * 12)[:330]
LONG_UNIT = ("Credits<!here>&<>" * 20)[:310]


# --- helpers -----------------------------------------------------------------------------


def fields_of(card: list[dict[str, Any]]) -> dict[str, str]:
    """The card's fields by label: `*Remaining*\\n493.22 Credits` → {"Remaining": "493.22 ..."}."""
    section = next(block for block in card if block["type"] == "section" and "fields" in block)
    pairs = (field["text"].split("\n", 1) for field in section["fields"])
    return {label.strip("*"): value for label, value in pairs}


def confirm_texts(card: list[dict[str, Any]]) -> list[str]:
    return [
        obj["confirm"]["text"]["text"]
        for obj in _walk(card)
        if obj.get("type") == "button" and obj.get("confirm")
    ]


# --- amounts and percentages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("493.2210000000001", "493.22"),
        ("0", "0.00"),
        ("1234.5", "1,234.50"),
        ("0.005", "0.01"),
        ("-12.345", "-12.35"),
        ("50.00", "50.00"),
        ("1e200", UNREADABLE),
        ("-1e300", UNREADABLE),
        ("Infinity", UNREADABLE),
        ("-Infinity", UNREADABLE),
        ("NaN", UNREADABLE),
        ("sNaN", UNREADABLE),
        ("1e999999999", UNREADABLE),
        ("-1e999999999", UNREADABLE),
    ],
)
def test_amount(value: str, shown: str) -> None:
    assert blocks.amount(Decimal(value)) == shown


_any_decimal = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    # Any digits with any exponent Python's Decimal accepts, not only the moderate ones.
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=80),
        st.integers(-(10**9), 10**9),
    ),
    st.sampled_from([Decimal(v) for v in ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity")]),
)


@given(_any_decimal)
@example(Decimal("1e999999999"))
@example(Decimal("9" * 29 + ".995"))
@example(Decimal("-0"))
def test_amount_never_raises(value: Decimal) -> None:
    shown = blocks.amount(value)
    assert shown == UNREADABLE or TWO_DECIMALS.match(shown), shown


@given(_any_decimal)
@example(Decimal("1e999999999"))
def test_percent_never_raises(value: Decimal) -> None:
    shown = blocks.percent(value)
    assert shown == "n/a" or PERCENT.match(shown), shown


@pytest.mark.parametrize(
    ("remaining", "used", "left"),
    [
        (493.2210000000001, 21.778999999999996, "95.8%"),
        (75, 25, "75.0%"),
        (0, 100, "0.0%"),
        (0, 0, "n/a"),
        ("inf", 10, "n/a"),
        ("-inf", 10, "n/a"),
        ("NaN", 10, "n/a"),
        (10, "inf", "n/a"),
        (10, "NaN", "n/a"),
        ("-1e300", 10, "n/a"),
        (10, "-1e300", "n/a"),
        ("1e999999999", 10, "n/a"),
        (10, "1e999999999", "n/a"),
    ],
)
def test_percent_left(remaining: Any, used: Any, left: str) -> None:
    assert blocks.percent(snapshot(app(remaining=remaining, used=used)).percent_left) == left


# --- the quota card ------------------------------------------------------------------------


def test_an_ordinary_card() -> None:
    card = blocks.quota_card(snapshot(app(), global_balance()), "prod")
    assert_valid(card)
    assert card[0]["text"]["text"] == "Midjourney · prod"
    assert fields_of(card) == {
        "Remaining": "493.22 Credits",
        "Used": "21.78 Credits",
        "Left": "95.8%",
        "Global fallback": "OFF",
        "Global balance": "1,234.50 Credits",
    }
    assert confirm_texts(card) == []  # Enable opens a dialog, its own confirm
    assert blocks.quota_card_text(snapshot(app()), "prod") == "prod: 493.22 Credits left"


ABSURD_AMOUNTS = {
    "1e200": (1e200, 21.78),
    "inf": ("inf", 21.78),
    "-inf": ("-inf", 21.78),
    "NaN": ("NaN", 21.78),
    "1e999999999": ("1e999999999", 21.78),
    "used inf": (493.22, "inf"),
    "used 1e999999999": (493.22, "1e999999999"),
    "huge negative": (-1e300, 21.78),
    "used huge negative": (493.22, -1e300),
    "both inf": ("inf", "inf"),
}


@pytest.mark.parametrize(("remaining", "used"), ABSURD_AMOUNTS.values(), ids=ABSURD_AMOUNTS.keys())
def test_absurd_amounts_read_as_unreadable(remaining: Any, used: Any) -> None:
    # Fallback state unknown: the card offers both buttons, so both dialogs are built.
    application = app(remaining=remaining, used=used, allow=None)
    card = blocks.quota_card(snapshot(application, global_balance()), "prod")
    assert_valid(card)
    fields = fields_of(card)
    for label, value in [("Remaining", remaining), ("Used", used)]:
        readable = blocks.amount(Decimal(str(value))) != UNREADABLE
        if readable:
            assert TWO_DECIMALS.match(fields[label].removesuffix(" Credits")), fields
        else:
            assert fields[label] == UNREADABLE, fields
    assert fields["Left"] == "n/a" or PERCENT.match(fields["Left"]), fields
    if remaining in ("inf", "-inf", "NaN", -1e300) or used in ("inf", -1e300):
        assert fields["Left"] == "n/a", fields
    text = blocks.quota_card_text(snapshot(application), "prod")
    assert text.startswith("prod: ")


@pytest.mark.parametrize(
    ("balance", "shown"),
    [
        (None, "unavailable"),
        ("1e300", UNREADABLE),
        ("inf", UNREADABLE),
        ("NaN", UNREADABLE),
        ("-1e300", UNREADABLE),
        ("1e999999999", UNREADABLE),
    ],
)
def test_an_unavailable_or_absurd_global_balance_never_breaks_the_card(
    balance: str | None, shown: str
) -> None:
    balance_app = None if balance is None else global_balance(balance)
    card = blocks.quota_card(snapshot(app(allow=None), balance_app), "prod")
    assert_valid(card)
    assert fields_of(card)["Global balance"] == shown


@pytest.mark.parametrize("alias", ["prod", "a" * 32, None], ids=["alias", "longest", "raw id"])
@pytest.mark.parametrize("allow", [False, True, None], ids=["off", "on", "unknown"])
def test_long_hostile_service_title_and_unit_are_cut_and_escaped(
    alias: str | None, allow: bool | None
) -> None:
    assert len(LONG_TITLE) > 300 and len(LONG_UNIT) > 300
    application = app(
        title=LONG_TITLE,
        unit=LONG_UNIT,
        allow=allow,
        remaining="999999999999999999999999999.99",
        used="-999999999999999999999999999.99",
    )
    balance = app(
        app_id=GLOBAL_APP_ID,
        scope="Global",
        remaining="999999999999999999999999999.99",
        unit=LONG_UNIT,
    )
    card = blocks.quota_card(snapshot(application, balance), alias, toggleable=alias is not None)
    assert_valid(card)
    header = card[0]["text"]["text"]
    assert header.startswith("Mid<!channel>journey")  # plain text: Slack does not parse it
    assert len(header) <= MAX_HEADER
    if alias:
        assert header.endswith(f" · {alias}")
    for text in mrkdwn_texts(card):
        assert_escaped(text)
    fields = fields_of(card)
    assert fields["Remaining"].startswith("999,999,999,999,999,999,999,999,999.99 Credits&lt;")
    assert_escaped(blocks.quota_card_text(snapshot(application, balance), alias))
    # The whole unit is not repeated: it is cut.
    assert LONG_UNIT not in json.dumps(card)


def test_card_for_a_raw_application_id_says_how_to_make_it_switchable() -> None:
    card = blocks.quota_card(snapshot(app(app_id=OTHER_APP_ID)), None, toggleable=False)
    assert_valid(card)
    labels = [e["text"]["text"] for e in _walk(card) if e.get("type") == "button"]
    assert labels == ["Refresh"]
    assert "link it to an alias" in json.dumps(card)


@pytest.mark.parametrize("origin", ["command", "message"])
def test_card_buttons_carry_their_target(origin: Any) -> None:
    card = blocks.quota_card(snapshot(app(allow=None)), "prod", origin=origin)
    assert_valid(card)
    actions = next(block for block in card if block["type"] == "actions")
    assert actions["block_id"].endswith(origin)
    values = [json.loads(button["value"]) for button in actions["elements"]]
    assert values == [
        {"alias": "prod", "application_id": APP_ID, "enable": True},
        {"alias": "prod", "application_id": APP_ID, "enable": False},
        {"alias": "prod", "application_id": APP_ID},
    ]


# --- lists ---------------------------------------------------------------------------------


def alias_lines(count: int, *, hostile: bool = False) -> list[blocks.AliasLine]:
    long_app = app(title=LONG_TITLE, unit=LONG_UNIT, remaining="999999999999999999999999999.99")
    problem = blocks.upstream_problem(
        UpstreamError(HOSTILE * 5, status_code=500, trace_id="<trace>" * 14),
        application_id=OTHER_APP_ID,
        alias="x",
    ).removeprefix(":warning: ")
    lines = []
    for i in range(count):
        kind = i % 4
        lines.append(
            blocks.AliasLine(
                name=f"alias-{i:03d}-{'x' * 22}",
                workspace_wide=bool(i % 2),
                application_id=APP_ID,
                application=(long_app if hostile else app()) if kind in (0, 1) else None,
                problem=problem if kind == 2 else None,
            )
        )
    return lines


@pytest.mark.parametrize("count", [1, 20, 200])
@pytest.mark.parametrize("hostile", [False, True], ids=["plain", "long hostile titles"])
def test_alias_list_fits_and_shows_every_alias(count: int, hostile: bool) -> None:
    lines = alias_lines(count, hostile=hostile)
    message = blocks.alias_list(lines, token_note=blocks.NO_TOKEN_FOR_LIST if count == 1 else None)
    assert_valid(message)
    for text in mrkdwn_texts(message):
        assert_escaped(text)
    dumped = json.dumps(message)
    assert f"({count})" in dumped
    missing = [line.name for line in lines if line.name not in dumped]
    assert missing == []


def test_alias_list_never_drops_aliases_silently() -> None:
    """200 aliases whose lookups all failed with long answers: the list must stay within 50
    blocks, and any alias it cannot show must at least be counted ("… and N more")."""
    problem = blocks.upstream_problem(
        UpstreamError("<&>" * 100, status_code=500, trace_id="<" * 100),
        application_id=APP_ID,
        alias="x",
    ).removeprefix(":warning: ")
    lines = [
        blocks.AliasLine(f"alias-{i:03d}-{'x' * 22}", True, APP_ID, None, problem)
        for i in range(200)
    ]
    message = blocks.alias_list(lines, token_note=None)
    assert_valid(message)
    dumped = json.dumps(message)
    missing = [line.name for line in lines if line.name not in dumped]
    if missing:
        assert str(len(missing)) in dumped, (
            f"{len(missing)} of 200 aliases left out without a word; the header still says (200)"
        )


def test_empty_alias_list_says_how_to_link() -> None:
    message = blocks.alias_list([], token_note=None)
    assert_valid(message)
    assert "/quota link" in json.dumps(message)


def audit_events(count: int) -> list[AuditEntry]:
    actions = [
        ("fallback", "changed"),
        ("fallback", "failed"),
        ("token_set", "changed"),
        ("alias_linked", "changed"),
        ("alias_unlinked", "changed"),
        ("admin_added", "changed"),
        ("admin_removed", "changed"),
        ("<!channel>_odd", "changed"),
    ]
    events = []
    for i in range(count):
        action, outcome = actions[i % len(actions)]
        events.append(
            AuditEntry(
                user_id=f"U{i:08d}",
                action=action,
                alias=None if i % 3 == 0 else f"alias-{i:03d}-{'x' * 22}",
                application_id=APP_ID,
                before="off",
                requested="on" if i % 2 else "off",
                # What the services write: on/off for switches, the application for links,
                # the token's last four characters (outside text) for a token change.
                after={"fallback": "on", "token_set": "…<!h>"}.get(
                    action, APP_ID if action.startswith("alias") else None
                ),
                outcome=outcome,
                trace_id="<!channel>" * 10 if i % 2 else None,
                detail="U12345678" if action.startswith("admin") else None,
                created_at=AS_OF - timedelta(minutes=i),
            )
        )
    return events


@pytest.mark.parametrize("alias", [None, "prod"])
def test_audit_list_of_20_events_fits(alias: str | None) -> None:
    events = audit_events(20)
    message = blocks.audit_list(events, alias)
    assert_valid(message)
    for text in mrkdwn_texts(message):
        assert_escaped(text)
    dumped = json.dumps(message)
    assert "*Last 20 audit events*" in dumped
    for event in events:
        assert f"<@{event.user_id}>" in dumped


def test_empty_audit_list() -> None:
    message = blocks.audit_list([], "prod")
    assert_valid(message)
    assert "No audit events for *prod* yet." in json.dumps(message)


def test_help_fits() -> None:
    assert_valid(blocks.help_blocks())


def test_token_modal_views_are_valid() -> None:
    from slack_sdk.models.views import View

    for view in (blocks.token_modal(), blocks.token_saved_view("c56b", HOSTILE * 20)):
        assert View(**view).to_dict() == view
        assert_valid(view["blocks"])
        for text in mrkdwn_texts(view["blocks"]):
            assert_escaped(text.replace("<https://platform.acedata.cloud/", ""))


# --- messages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "says"),
    [(30, "try again in 30 s"), (0.2, "try again in 1 s"), (None, "try again in a minute")],
)
def test_rate_limited_says_when_to_try_again(retry_after: float | None, says: str) -> None:
    error = RateLimited("Too many requests", status_code=429, retry_after=retry_after)
    text = blocks.upstream_problem(error, application_id=APP_ID, alias="prod")
    assert says in text
    assert text.count(".") <= 2  # one sentence (and its full stop)


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError(HOSTILE * 20, status_code=500, trace_id=HOSTILE),
        RateLimited(HOSTILE, status_code=429, trace_id=HOSTILE * 2, retry_after=5),
        AceDataError(HOSTILE),
    ],
    ids=["500", "429", "base"],
)
def test_upstream_problem_is_escaped(error: AceDataError) -> None:
    text = blocks.upstream_problem(error, application_id=APP_ID, alias="prod")
    assert_escaped(text)
    assert len(text) <= MAX_SECTION_TEXT


def test_the_console_links_go_to_the_applications_usage_and_packages() -> None:
    card = blocks.quota_card(snapshot(app()), "prod", console="https://console.example")
    buttons = [e for block in card for e in block.get("elements", []) if e.get("url")]

    assert [(b["text"]["text"], b["url"]) for b in buttons] == [
        ("Open in console", f"https://console.example/console/usages?application_id={APP_ID}"),
        ("Top up", f"https://console.example/console/applications/{APP_ID}/extra"),
    ]
    assert_valid(card)
