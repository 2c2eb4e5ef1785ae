"""*Get quota* (anyone in the workspace): an alias's quota as the step's outputs — remaining,
used, percent left, whether the global fallback is on, the forecast run-out date."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_bolt.async_app import AsyncApp

from ....runtime import Runtime
from ....services.quota import QuotaSnapshot
from ... import ids
from ...blocks import steps as step_blocks
from .step import Step, StepFailed, register_step


def register(app: AsyncApp, runtime: Runtime) -> None:
    register_step(app, runtime, ids.GET_QUOTA_STEP, get_quota)


async def get_quota(step: Step) -> None:
    await step.user()
    alias = await step.alias(step.channel(required=False))
    snapshot = await step.quota(alias)
    await step.complete(outputs=quota_outputs(snapshot))


def _number(value: Decimal | None) -> float:
    if value is None or not value.is_finite() or abs(value) > Decimal("1e15"):
        raise StepFailed(step_blocks.UNREADABLE_AMOUNT)
    return float(round(value, 2))


def quota_outputs(snapshot: QuotaSnapshot) -> dict[str, Any]:
    app = snapshot.application
    outputs: dict[str, Any] = {
        "remaining": _number(app.remaining_amount),
        "used": _number(app.used_amount),
        "fallback_on": bool(app.allow_consume_global),
        "run_out_date": "",
    }
    if snapshot.percent_left is not None:
        outputs["percent_left"] = float(round(snapshot.percent_left, 1))
    runs_out = snapshot.forecast.runs_out_at if snapshot.forecast else None
    if runs_out is not None:
        outputs["run_out_date"] = runs_out.date().isoformat()
    return outputs
