"""Workflow Builder steps: `function_executed` in, `functions.completeSuccess` or
`functions.completeError` out, acting as the person the workflow runs as."""

from __future__ import annotations

import json
import logging

import pytest
import respx
from sqlalchemy import Engine

from bot.slack import ids
from tests.support.client import (
    ADMIN,
    APP_ID,
    CHANNEL,
    MEMBER,
    OTHER_CHANNEL,
    BotClient,
    everything_stored,
)
from tests.support.functions import FUNCTION_TOKEN_PREFIX, completion, run_step

STRANGER = "USTRANGER"


def used_token(bot: BotClient, execution: str) -> str:
    (call,) = [
        call
        for call in bot.slack.calls
        if call.method.startswith("functions.complete")
        and call.data.get("function_execution_id") == execution
    ]
    return call.headers.get("Authorization", "").removeprefix("Bearer ")


async def test_get_quota_completes_with_the_figures(linked: BotClient) -> None:
    execution = await run_step(
        linked, ids.GET_QUOTA_STEP, {"alias": "prod", "user_id": MEMBER, "channel_id": CHANNEL}
    )
    kind, outputs = await completion(linked, execution)

    assert kind == "success"
    assert outputs == {
        "remaining": 493.22,
        "used": 21.78,
        "percent_left": 95.8,
        "fallback_on": False,
        "run_out_date": "",
    }
    assert used_token(linked, execution) == FUNCTION_TOKEN_PREFIX + execution


async def test_without_a_channel_only_workspace_aliases_are_found(linked: BotClient) -> None:
    execution = await run_step(linked, ids.GET_QUOTA_STEP, {"alias": "prod", "user_id": MEMBER})
    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert outputs["error"].startswith("Quota Bot has no alias “prod” in this workspace")

    await linked.quota(f"link shared {APP_ID} --workspace", user=ADMIN)
    execution = await run_step(linked, ids.GET_QUOTA_STEP, {"alias": "shared", "user_id": MEMBER})
    assert (await completion(linked, execution))[0] == "success"


async def test_post_quota_card_posts_the_card_and_outputs_its_message(linked: BotClient) -> None:
    execution = await run_step(
        linked,
        ids.POST_CARD_STEP,
        {"alias": "prod", "channel_id": CHANNEL, "user_id": MEMBER},
    )
    kind, outputs = await completion(linked, execution)

    (post,) = linked.slack.calls_to("chat.postMessage")
    assert post.data["channel"] == CHANNEL
    assert post.data["text"] == "prod: 493.22 Credits left"
    assert "quota_card_actions:message" in json.dumps(post.data["blocks"])
    assert (kind, outputs) == ("success", {"message_ts": "1700000000.000200"})


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        ({"user_id": MEMBER}, "The step needs its “alias” input"),
        ({"alias": "nope", "user_id": MEMBER}, "Quota Bot has no alias “nope”"),
        ({"alias": "prod"}, "The step needs its “user_id” input"),
        ({"alias": "prod", "user_id": STRANGER}, "is not a member of this workspace"),
        ({"alias": "prod", "user_id": "not-a-user"}, "“user_id” input is not a value"),
        ({"alias": ["prod"], "user_id": MEMBER}, "“alias” input is not a value"),
        ({"alias": "prod", "user_id": MEMBER, "channel_id": "#ops"}, "“channel_id” input"),
    ],
    ids=["no alias", "unknown alias", "no user", "stranger", "bad user", "list", "bad channel"],
)
async def test_bad_inputs_complete_with_an_error_and_post_nothing(
    linked: BotClient, inputs: dict[str, object], said: str
) -> None:
    execution = await run_step(linked, ids.POST_CARD_STEP, {"channel_id": CHANNEL, **inputs})
    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert said in outputs["error"]
    assert linked.slack.calls_to("chat.postMessage") == []


async def test_a_user_of_another_workspace_is_refused(linked: BotClient) -> None:
    linked.slack.users["UOTHER"] = {"name": "eve", "team_id": "T0OTHER"}
    execution = await run_step(linked, ids.GET_QUOTA_STEP, {"alias": "prod", "user_id": "UOTHER"})
    kind, outputs = await completion(linked, execution)
    assert kind == "error" and "not a member of this workspace" in outputs["error"]


async def test_ace_data_cloud_failing_is_said_in_the_bots_own_words(
    linked: BotClient, acedata: respx.MockRouter
) -> None:
    acedata.get(f"/applications/{APP_ID}").respond(500, text="secret upstream words")
    execution = await run_step(
        linked, ids.GET_QUOTA_STEP, {"alias": "prod", "user_id": MEMBER, "channel_id": CHANNEL}
    )
    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert outputs["error"] == (
        "Ace Data Cloud could not answer; try again shortly. Nothing was changed."
    )


async def test_a_channel_the_bot_cannot_post_in_is_said(linked: BotClient) -> None:
    await linked.quota(f"link music {APP_ID}", user=ADMIN, channel=OTHER_CHANNEL)
    linked.slack.channel_failures[OTHER_CHANNEL] = "not_in_channel"
    execution = await run_step(
        linked,
        ids.POST_CARD_STEP,
        {"alias": "music", "channel_id": OTHER_CHANNEL, "user_id": MEMBER},
    )
    kind, outputs = await completion(linked, execution)
    assert kind == "error" and "invite it there" in outputs["error"]


async def test_a_completion_slack_refuses_is_logged_not_raised(
    linked: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    linked.slack.failures["functions.completeError"] = "invalid_workflow_execution"
    caplog.set_level(logging.INFO)
    await run_step(linked, ids.GET_QUOTA_STEP, {"user_id": MEMBER})
    await linked.settle()
    refused = [r for r in caplog.records if "functions.completeError refused" in r.getMessage()]
    assert len(refused) == 1 and "invalid_workflow_execution" in refused[0].getMessage()


async def test_the_function_token_is_never_logged_or_stored(
    linked: BotClient, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    executions = [
        await run_step(linked, ids.GET_QUOTA_STEP, {"alias": "prod", "user_id": MEMBER}),
        await run_step(
            linked,
            ids.POST_CARD_STEP,
            {"alias": "prod", "channel_id": CHANNEL, "user_id": MEMBER},
        ),
    ]
    for execution in executions:
        await completion(linked, execution)
    stored = everything_stored(db)
    for execution in executions:
        secret = FUNCTION_TOKEN_PREFIX + execution
        assert secret not in caplog.text
        assert secret not in stored


async def test_an_unknown_step_is_completed_with_an_error(linked: BotClient) -> None:
    execution = await run_step(linked, "no_such_step", {"alias": "prod"})
    kind, outputs = await completion(linked, execution)
    assert kind == "error"
    assert outputs["error"].startswith("This version of Quota Bot does not provide that step")
