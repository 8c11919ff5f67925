"""Token accounting, cost estimate and the daily budget, across local days."""

from __future__ import annotations

from datetime import date

import pytest

from custom_components.homesec_nvr.core.interfaces import StageSkipped
from custom_components.homesec_nvr.core.vlm.usage import UsageLimits, UsageTracker


class Clock:
    """A local day that tests move by hand."""

    def __init__(self) -> None:
        self.day = date(2026, 11, 21)

    def __call__(self) -> date:
        return self.day


def test_calls_tokens_latency_and_cost_add_up() -> None:
    # Given prices of 0.15 / 0.60 per million prompt / completion tokens
    tracker = UsageTracker(
        UsageLimits(price_prompt_per_million=0.15, price_completion_per_million=0.60)
    )

    # When two calls are recorded
    tracker.record(1_000_000, 100_000, 900)
    tracker.record(1_000_000, 100_000, 1200)

    # Then calls, tokens, the last latency and the cost are counted
    snap = tracker.snapshot()
    assert (snap.calls, snap.prompt_tokens, snap.completion_tokens) == (2, 2_000_000, 200_000)
    assert snap.total_tokens == 2_200_000
    assert snap.last_latency_ms == 1200
    assert snap.estimated_cost == pytest.approx(0.30 + 0.12)
    assert snap.to_dict()["estimated_cost"] == pytest.approx(0.42)
    assert snap.budget_exhausted is False


def test_the_call_budget_is_spent_until_the_local_day_changes() -> None:
    # Given a budget of 2 calls a day
    clock = Clock()
    tracker = UsageTracker(UsageLimits(max_calls_per_day=2), today=clock)
    tracker.record(10, 5, 100)
    tracker.check_budget()
    tracker.record(10, 5, 100)

    # When a third call is due the same day
    with pytest.raises(StageSkipped) as caught:
        tracker.check_budget()

    # Then it is skipped as budget_exhausted, with the numbers
    assert caught.value.reason == "budget_exhausted"
    assert "2 of 2 calls" in str(caught.value)
    assert tracker.snapshot().budget_exhausted is True
    # and the next local day starts from zero
    clock.day = date(2026, 11, 22)
    tracker.check_budget()
    snap = tracker.snapshot()
    assert (snap.day, snap.calls, snap.prompt_tokens, snap.budget_exhausted) == (
        date(2026, 11, 22),
        0,
        0,
        False,
    )


def test_the_token_budget_counts_prompt_and_completion_tokens() -> None:
    # Given a budget of 1000 tokens a day
    tracker = UsageTracker(UsageLimits(max_tokens_per_day=1000), today=Clock())

    # When 900 + 100 tokens are used
    tracker.record(900, 99, None)
    tracker.check_budget()
    tracker.record(0, 1, None)

    # Then the budget is spent
    with pytest.raises(StageSkipped, match="1000 of 1000 tokens"):
        tracker.check_budget()
    assert tracker.exhausted_by() == "max_tokens_per_day"


def test_zero_limits_mean_unlimited() -> None:
    # Given no limits
    tracker = UsageTracker()

    # When many calls are recorded
    for _ in range(500):
        tracker.record(10_000, 1_000, 10)

    # Then the budget is never spent
    tracker.check_budget()
    assert tracker.exhausted_by() is None


def test_seed_restores_today_and_ignores_another_day() -> None:
    # Given a tracker after a restart, with a call limit of 5
    clock = Clock()
    tracker = UsageTracker(UsageLimits(max_calls_per_day=5), today=clock)

    # When yesterday's totals and then today's are seeded
    assert tracker.seed(9, 9, 9, day=date(2026, 11, 20)) is False
    assert tracker.seed(5, 4000, 300, day=clock.day) is True

    # Then today's totals count towards today's budget
    snap = tracker.snapshot()
    assert (snap.calls, snap.prompt_tokens, snap.completion_tokens) == (5, 4000, 300)
    with pytest.raises(StageSkipped):
        tracker.check_budget()


def test_listeners_hear_every_change_until_removed() -> None:
    # Given a listener
    tracker = UsageTracker()
    heard: list[int] = []
    remove = tracker.add_listener(lambda: heard.append(tracker.snapshot().calls))

    # When calls are recorded, limits change, and the listener is removed
    tracker.record(1, 1, 1)
    tracker.set_limits(UsageLimits(max_calls_per_day=1))
    remove()
    tracker.record(1, 1, 1)

    # Then it heard the changes made while it was registered
    assert heard == [1, 1]
    assert tracker.limits.max_calls_per_day == 1
