"""Scripted stand-ins at the pipeline's outermost boundaries (filter, VLM, notifier).

The store (SQLite) and the storage (files) stay real in the runner tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from custom_components.homesec_nvr.core.interfaces import Notifier, ObjectFilter, VLMAnalyzer
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Alert,
    AnalysisResult,
    Clip,
    ClipState,
    FilterResult,
    RiskLevel,
)


def make_clip(path: Path, clip_id: str = "clip-1", camera_id: str = "cam") -> Clip:
    """A clip object for a file."""
    end = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    return Clip(
        clip_id=clip_id,
        camera_id=camera_id,
        camera_name="Front door",
        source_type="test",
        path=path,
        start_ts=end - timedelta(seconds=2),
        end_ts=end,
    )


def filter_result(*classes: str) -> FilterResult:
    """A filter result that found these classes."""
    return FilterResult(
        detected_classes=classes,
        best_confidence=dict.fromkeys(classes, 0.8),
        detections=(),
        frames_sampled=4,
        model="scripted",
        duration_ms=1,
    )


class ScriptedFilter(ObjectFilter):
    """Raises the scripted errors first, then returns `result`."""

    name = "scripted"

    def __init__(self, result: FilterResult, errors: Sequence[Exception] = ()) -> None:
        self.result = result
        self.errors = list(errors)
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self.gate: asyncio.Event | None = None

    async def detect(self, clip: Clip) -> FilterResult:
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.errors:
                raise self.errors.pop(0)
            return self.result
        finally:
            self.running -= 1


class ScriptedVLM(VLMAnalyzer):
    """Raises the scripted errors first, then returns an analysis."""

    name = "scripted-vlm"

    def __init__(
        self,
        risk: RiskLevel = RiskLevel.LOW,
        activity: ActivityType = ActivityType.DELIVERY,
        errors: Sequence[Exception] = (),
    ) -> None:
        self.analysis = AnalysisResult(
            risk_level=risk,
            activity_type=activity,
            summary="A courier leaves a parcel.",
            prompt_tokens=100,
            completion_tokens=20,
        )
        self.errors = list(errors)
        self.calls = 0

    async def analyze(self, clip: Clip, filter_result: FilterResult) -> AnalysisResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.analysis


class ScriptedNotifier(Notifier):
    """Records alerts; raises the scripted errors first."""

    def __init__(self, name: str, errors: Sequence[Exception] = ()) -> None:
        self.name = name
        self.errors = list(errors)
        self.sent: list[Alert] = []
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(alert)


@dataclass
class RecordingListener:
    """Records every stage the runner reports."""

    stages: list[tuple[str, str]] = field(default_factory=list)
    counter_changes: int = 0

    def clip_updated(self, state: ClipState, stage: str) -> None:
        self.stages.append((state.clip_id, stage))

    def counters_changed(self) -> None:
        self.counter_changes += 1
