"""The alert state machine for one (channel, alias). Pure: no I/O.

States, mildest first: ok, low (below the threshold), soon (the forecast says it runs out
within a day), exhausted (its own quota is used up and the global balance pays), failing (used
up, and calls fail: the fallback is off or the global balance is empty too). The channel hears
of a state only when it gets worse than what was last said; a state that improves re-arms the
alert only once the quota is clearly back — above the threshold plus a margin, or topped up —
so a balance hovering at the line does not flood the channel. A snooze silences everything but
getting worse past it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from typing import Literal

SOON = timedelta(hours=24)
# Back above the threshold by this share of it, or a top-up of at least as much, re-arms the
# alert.
MARGIN_SHARE = Decimal("0.1")


class Level(IntEnum):
    OK = 0
    LOW = 1
    SOON = 2
    EXHAUSTED = 3
    FAILING = 4


@dataclass(frozen=True)
class Threshold:
    kind: Literal["amount", "percent"]
    value: Decimal

    def limit(self, total: Decimal) -> Decimal:
        """The remaining amount below which the quota is low (`total` = remaining + used)."""
        return self.value if self.kind == "amount" else total * self.value / 100


@dataclass(frozen=True)
class AlertState:
    """What the channel was last told, and any snooze."""

    said: Level = Level.OK
    snoozed_until: datetime | None = None
    snoozed_at: Level | None = None  # the level a snooze silences (up to and including)
    until_recovered: bool = False
    last_remaining: Decimal | None = None


@dataclass(frozen=True)
class Reading:
    remaining: Decimal
    used: Decimal
    runs_out_at: datetime | None
    calls_fail_when_out: bool = True  # fallback off (or unknown), or the global balance empty


@dataclass(frozen=True)
class Decision:
    state: AlertState
    post: Level | None  # the level to tell the channel about, if any
    recovered: bool = False  # the alert re-armed: the quota is clearly back


def level_of(reading: Reading, threshold: Threshold, now: datetime) -> Level:
    if reading.remaining <= 0:
        return Level.FAILING if reading.calls_fail_when_out else Level.EXHAUSTED
    if reading.runs_out_at is not None and reading.runs_out_at - now <= SOON:
        return Level.SOON
    if reading.remaining < threshold.limit(reading.remaining + reading.used):
        return Level.LOW
    return Level.OK


def decide(state: AlertState, reading: Reading, threshold: Threshold, now: datetime) -> Decision:
    level = level_of(reading, threshold, now)
    limit = threshold.limit(reading.remaining + reading.used)
    topped_up = (
        state.last_remaining is not None
        and reading.remaining - state.last_remaining >= max(limit * MARGIN_SHARE, Decimal(0))
        and reading.remaining > state.last_remaining
    )
    state = replace(state, last_remaining=reading.remaining)
    if level > state.said:
        if _silenced(state, level, now):
            return Decision(state, None)
        return Decision(replace(state, said=level, snoozed_until=None, snoozed_at=None), level)
    if (
        state.said > Level.OK
        and level < state.said
        and _clearly_back(reading, limit, now, topped_up)
    ):
        # Recovery ends a snooze "until recovered"; a timed one runs its course.
        rearmed = replace(state, said=level)
        if state.until_recovered:
            rearmed = replace(rearmed, snoozed_at=None, until_recovered=False)
        return Decision(rearmed, None, recovered=level == Level.OK)
    return Decision(state, None)


def _silenced(state: AlertState, level: Level, now: datetime) -> bool:
    """A snooze holds for the level it was set at; getting worse than that lifts it."""
    if state.snoozed_at is None or level > state.snoozed_at:
        return False
    if state.until_recovered:
        return True
    return state.snoozed_until is not None and now < state.snoozed_until


def _clearly_back(reading: Reading, limit: Decimal, now: datetime, topped_up: bool) -> bool:
    """Topped up, or above the threshold by the margin with the end not near either."""
    if topped_up:
        return True
    far_off = reading.runs_out_at is None or reading.runs_out_at - now > 2 * SOON
    return reading.remaining >= limit * (1 + MARGIN_SHARE) and far_off


def snooze(state: AlertState, *, now: datetime, hours: float | None) -> AlertState:
    """Silence the alert at its current level for `hours`, or (None) until it recovers."""
    if hours is None:
        return replace(state, snoozed_at=state.said, until_recovered=True, snoozed_until=None)
    return replace(
        state,
        snoozed_at=state.said,
        until_recovered=False,
        snoozed_until=now + timedelta(hours=hours),
    )
