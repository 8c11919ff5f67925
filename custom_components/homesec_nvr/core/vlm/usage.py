"""Token accounting, cost estimate and the daily budget of the vision model.

Counters cover one local day: they start again from zero when `today()` changes. Once a daily
limit is reached, `check_budget` raises `StageSkipped("budget_exhausted")` (the runner records
the clip's VLM stage as skipped and the alert policy falls back to the filter-only rule) until
the day changes. Not thread-safe: use it from the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..interfaces import StageSkipped

BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True, slots=True)
class UsageLimits:
    """Daily limits (0 = unlimited) and prices (per million tokens) for the cost estimate."""

    max_calls_per_day: int = 0
    max_tokens_per_day: int = 0
    price_prompt_per_million: float = 0.0
    price_completion_per_million: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated cost of these tokens, in the currency the prices are in."""
        return (
            prompt_tokens * self.price_prompt_per_million
            + completion_tokens * self.price_completion_per_million
        ) / 1_000_000


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """Today's usage, for sensors and diagnostics."""

    day: date
    calls: int
    prompt_tokens: int
    completion_tokens: int
    estimated_cost: float
    last_latency_ms: int | None
    max_calls_per_day: int
    max_tokens_per_day: int
    budget_exhausted: bool

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        """Serialise (diagnostics, persistence of today's totals)."""
        return {
            "day": self.day.isoformat(),
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "estimated_cost": round(self.estimated_cost, 6),
            "last_latency_ms": self.last_latency_ms,
            "max_calls_per_day": self.max_calls_per_day,
            "max_tokens_per_day": self.max_tokens_per_day,
            "budget_exhausted": self.budget_exhausted,
        }


class UsageTracker:
    """Per-local-day counters of vision model calls and tokens, with daily limits."""

    def __init__(
        self,
        limits: UsageLimits | None = None,
        *,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._limits = limits or UsageLimits()
        self._today = today
        self._day = today()
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._last_latency_ms: int | None = None
        self._listeners: list[Callable[[], None]] = []

    @property
    def limits(self) -> UsageLimits:
        """The limits and prices in force."""
        return self._limits

    def set_limits(self, limits: UsageLimits) -> None:
        """Change limits and prices (today's counters are kept)."""
        self._limits = limits
        self._changed()

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after every change; returns the remover."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _roll_over(self) -> None:
        today = self._today()
        if today != self._day:
            self._day = today
            self._calls = 0
            self._prompt_tokens = 0
            self._completion_tokens = 0

    def exhausted_by(self) -> str | None:
        """Which daily limit is spent ("max_calls_per_day" / "max_tokens_per_day"), if any."""
        self._roll_over()
        limits = self._limits
        if limits.max_calls_per_day > 0 and self._calls >= limits.max_calls_per_day:
            return "max_calls_per_day"
        tokens = self._prompt_tokens + self._completion_tokens
        if limits.max_tokens_per_day > 0 and tokens >= limits.max_tokens_per_day:
            return "max_tokens_per_day"
        return None

    def check_budget(self) -> None:
        """Raise StageSkipped("budget_exhausted") when today's budget is spent."""
        spent = self.exhausted_by()
        if spent == "max_calls_per_day":
            raise StageSkipped(
                BUDGET_EXHAUSTED,
                f"daily vision model budget spent: {self._calls} of "
                f"{self._limits.max_calls_per_day} calls today",
            )
        if spent == "max_tokens_per_day":
            raise StageSkipped(
                BUDGET_EXHAUSTED,
                "daily vision model budget spent: "
                f"{self._prompt_tokens + self._completion_tokens} of "
                f"{self._limits.max_tokens_per_day} tokens today",
            )

    def record(self, prompt_tokens: int, completion_tokens: int, latency_ms: int | None) -> None:
        """Count one answered request."""
        self._roll_over()
        self._calls += 1
        self._prompt_tokens += max(0, prompt_tokens)
        self._completion_tokens += max(0, completion_tokens)
        if latency_ms is not None:
            self._last_latency_ms = max(0, latency_ms)
        self._changed()

    def seed(
        self,
        calls: int,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        day: date | None = None,
    ) -> bool:
        """Restore today's totals after a restart; ignored (False) when `day` is not today."""
        self._roll_over()
        if day is not None and day != self._day:
            return False
        self._calls = max(0, calls)
        self._prompt_tokens = max(0, prompt_tokens)
        self._completion_tokens = max(0, completion_tokens)
        self._changed()
        return True

    def snapshot(self) -> UsageSnapshot:
        """Today's usage."""
        spent = self.exhausted_by() is not None
        return UsageSnapshot(
            day=self._day,
            calls=self._calls,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            estimated_cost=self._limits.cost(self._prompt_tokens, self._completion_tokens),
            last_latency_ms=self._last_latency_ms,
            max_calls_per_day=self._limits.max_calls_per_day,
            max_tokens_per_day=self._limits.max_tokens_per_day,
            budget_exhausted=spent,
        )

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
