"""A `function_executed` for a step this version does not provide (a manifest newer than the
code, or a callback id of another app's): completed with an error, never left hanging."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.fail.async_fail import AsyncFail

from ....runtime import Runtime
from ...blocks import steps as step_blocks
from ..pipeline import after_ack

logger = logging.getLogger(__name__)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("function_executed")
    async def unknown_step(
        event: dict[str, Any], fail: AsyncFail, context: AsyncBoltContext
    ) -> None:
        function = event.get("function")
        callback_id = function.get("callback_id") if isinstance(function, dict) else None
        logger.warning("No step %r in this version team=%s", str(callback_id)[:64], context.team_id)
        if context.function_execution_id:
            await after_ack(runtime, context, lambda: fail(step_blocks.UNKNOWN_STEP))
