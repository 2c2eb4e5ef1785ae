"""When a digest runs: local wall-clock slots in an IANA time zone, turned into UTC. Pure.

09:00 stays 09:00 local across daylight-saving changes. A slot that does not exist on a
spring-forward day runs once, at the first valid minute after the gap; a slot that exists
twice on a fall-back day runs once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["daily", "weekdays", "weekly"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    kind: Kind
    at: time
    zone: ZoneInfo
    weekday: int | None = None  # 0 = Monday, for weekly

    def runs_on(self, day: date) -> bool:
        match self.kind:
            case "daily":
                return True
            case "weekdays":
                return day.weekday() < 5
            case "weekly":
                return day.weekday() == self.weekday
        return False

    def slot_on(self, day: date) -> datetime:
        """The UTC moment of this schedule's slot on local `day` (which it must run on)."""
        return local_moment(datetime.combine(day, self.at), self.zone)

    def next_run(self, after: datetime) -> datetime:
        """The first slot strictly after `after` (aware), in UTC."""
        day = after.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(9):
            if self.runs_on(day):
                slot = self.slot_on(day)
                if slot > after:
                    return slot
            day += timedelta(days=1)
        raise AssertionError("every schedule has a slot within a week")  # pragma: no cover

    def previous_run(self, at: datetime) -> datetime:
        """The last slot at or before `at` (aware), in UTC."""
        day = at.astimezone(self.zone).date() + timedelta(days=1)
        for _ in range(9):
            if self.runs_on(day):
                slot = self.slot_on(day)
                if slot <= at:
                    return slot
            day -= timedelta(days=1)
        raise AssertionError("every schedule has a slot within a week")  # pragma: no cover

    def describe(self) -> str:
        when = self.at.strftime("%H:%M")
        match self.kind:
            case "daily":
                return f"Daily digest at {when} {self.zone.key}"
            case "weekdays":
                return f"Weekday digest at {when} {self.zone.key}"
        assert self.weekday is not None
        day = WEEKDAYS[self.weekday].capitalize()
        return f"Weekly digest on {day} at {when} {self.zone.key}"


def local_moment(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC moment a naive local `wall` time stands for in `zone`: its first occurrence when
    it happens twice, the first valid minute after a gap when it does not happen at all."""
    candidate = wall.replace(tzinfo=zone, fold=0)
    while not _exists(candidate):
        candidate = (candidate.replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=zone)
    return candidate.astimezone(UTC)


def _exists(moment: datetime) -> bool:
    """A wall time that round-trips through UTC unchanged exists; one in a gap does not."""
    assert moment.tzinfo is not None
    back = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return back.replace(tzinfo=None) == moment.replace(tzinfo=None)
