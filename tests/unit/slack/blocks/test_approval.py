"""The Enable dialog, approval requests and their decisions render valid Block Kit and say
what they mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.views import View

from bot.services.approvals import PendingRequest
from bot.slack.blocks import approval
from tests.support.blocks import HOSTILE, assert_valid, global_balance

REQUEST = PendingRequest(
    id="0" * 32,
    team_id="T1",
    requester_id="UA",
    alias="prod",
    application_id="107f8d0f-e465-4a7e-a49e-d633d26f7aa2",
    duration="4h",
    channel_id="C1",
    thread_ts=None,
    message_ts="1.2",
    status="pending",
    decided_by=None,
    expires_at=datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
)


def test_the_request_names_who_what_for_how_long_and_the_balance() -> None:
    text, blocks_ = approval.request_message(
        REQUEST, balance=global_balance(), ttl=timedelta(hours=1)
    )
    assert_valid(blocks_)
    assert text == (
        "<@UA> asks to enable global fallback for *prod* for 4 hours — General Balance "
        "1,234.50 Credits"
    )
    buttons = blocks_[-1]["elements"]
    assert [button["text"]["text"] for button in buttons] == ["Approve", "Reject"]
    assert buttons[0]["confirm"]["text"]["text"] == (
        "Global fallback for *prod* will be switched on for 4 hours."
    )


@pytest.mark.parametrize("outcome", ["approved", "failed", "rejected", "expired"])
def test_a_decided_request_has_no_buttons(outcome: str) -> None:
    decided = PendingRequest(**{**REQUEST.__dict__, "decided_by": "UB", "status": outcome})
    _, blocks_ = approval.decided_message(decided, outcome, "why")
    assert_valid(blocks_)
    assert all(block["type"] != "actions" for block in blocks_)


@pytest.mark.parametrize("approval_on", [False, True])
def test_the_enable_dialog_is_a_valid_modal(approval_on: bool) -> None:
    view = approval.enable_dialog(
        alias=HOSTILE[:32],
        application_id=REQUEST.application_id,
        balance="1,234.50 Credits",
        approval=approval_on,
        ttl=timedelta(minutes=90),
        zone=ZoneInfo("America/Argentina/ComodRivadavia"),
        metadata="{}",
    )
    assert isinstance(view, View)
    view.validate_json()
    rendered = view.to_dict()
    assert_valid(rendered["blocks"])
    assert ("90 minutes" in str(rendered)) is approval_on
    assert rendered["submit"]["text"] == ("Ask for approval" if approval_on else "Enable")
