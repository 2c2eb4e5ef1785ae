"""The alert state machine: one post per worsening, no flood at the line, snoozes that hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.services.alert_levels import AlertState, Level, Reading, Threshold, decide, snooze

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BELOW_100 = Threshold("amount", Decimal(100))


def run(
    remainings: list[float], *, state: AlertState | None = None, used: float = 0
) -> tuple[AlertState, list[Level | str]]:
    """Feed readings one check apart; what was posted (levels, and "recovered")."""
    state = state or AlertState()
    posted: list[Level | str] = []
    for step, remaining in enumerate(remainings):
        reading = Reading(Decimal(str(remaining)), Decimal(str(used)), None)
        decision = decide(state, reading, BELOW_100, NOW + timedelta(minutes=5 * step))
        state = decision.state
        if decision.post is not None:
            posted.append(decision.post)
        if decision.recovered:
            posted.append("recovered")
    return state, posted


def test_falling_through_the_levels_posts_each_once() -> None:
    _, posted = run([500, 150, 99, 98, 50, 0, 0, -1])
    assert posted == [Level.LOW, Level.FAILING]


def test_a_balance_hovering_at_the_line_posts_once() -> None:
    _, posted = run([120, 99, 101, 99, 102, 98, 100.5, 99.9])
    assert posted == [Level.LOW]


def test_recovery_past_the_margin_re_arms_the_alert() -> None:
    _, posted = run([120, 99, 111, 99])
    assert posted == [Level.LOW, "recovered", Level.LOW]


def test_a_top_up_re_arms_even_while_still_low() -> None:
    _, posted = run([120, 0, 60, 0])
    assert posted == [Level.FAILING, Level.FAILING]


def test_percent_thresholds_follow_the_total() -> None:
    ten_percent = Threshold("percent", Decimal(10))
    reading = Reading(Decimal(9), Decimal(91), None)
    assert decide(AlertState(), reading, ten_percent, NOW).post == Level.LOW
    plenty = Reading(Decimal(11), Decimal(89), None)
    assert decide(AlertState(), plenty, ten_percent, NOW).post is None


def test_running_out_within_a_day_warns_early() -> None:
    soon = Reading(Decimal(500), Decimal(0), NOW + timedelta(hours=20))
    assert decide(AlertState(), soon, BELOW_100, NOW).post == Level.SOON
    later = Reading(Decimal(500), Decimal(0), NOW + timedelta(hours=30))
    assert decide(AlertState(said=Level.SOON), later, BELOW_100, NOW).post is None


def test_a_snooze_holds_but_is_lifted_when_it_gets_worse() -> None:
    state, _ = run([120, 99])
    quiet = snooze(state, now=NOW, hours=1)
    state, posted = run([97, 95, 0], state=quiet)
    assert posted == [Level.FAILING]


def test_a_timed_snooze_silences_new_dips_until_it_ends() -> None:
    state, _ = run([120, 99])
    quiet = snooze(state, now=NOW, hours=1)
    state, posted = run([111, 99], state=quiet)  # five minutes apart, within the hour
    assert posted == ["recovered"]
    later = decide(
        state, Reading(Decimal(99), Decimal(0), None), BELOW_100, NOW + timedelta(hours=2)
    )
    assert later.post == Level.LOW


def test_snoozed_until_recovered_stays_quiet_until_it_recovers() -> None:
    state, _ = run([120, 99])
    quiet = snooze(state, now=NOW, hours=None)
    state, posted = run([98, 97, 96], state=quiet)
    assert posted == []
    state, posted = run([150, 99], state=state)
    assert posted == ["recovered", Level.LOW]


def test_running_out_within_a_day_is_news_even_after_low() -> None:
    state, _ = run([120, 99])
    soon = Reading(Decimal(90), Decimal(0), NOW + timedelta(hours=3))
    assert decide(state, soon, BELOW_100, NOW).post == Level.SOON


def test_used_up_then_the_fallback_switched_off_is_news() -> None:
    paid = Reading(Decimal(0), Decimal(100), None, calls_fail_when_out=False)
    first = decide(AlertState(), paid, BELOW_100, NOW)
    assert first.post == Level.EXHAUSTED
    failing = Reading(Decimal(0), Decimal(100), None, calls_fail_when_out=True)
    assert decide(first.state, failing, BELOW_100, NOW).post == Level.FAILING
