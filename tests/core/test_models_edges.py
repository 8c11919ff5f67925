"""Domain model edge cases: risk ordering against other types, an alert's analysed fields."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Alert,
    AnalysisResult,
    RiskLevel,
)


def test_risk_levels_are_ordered_by_severity_not_by_name() -> None:
    # Given the four levels (alphabetically: critical < high < low < medium)
    low, medium, high, critical = (
        RiskLevel.LOW,
        RiskLevel.MEDIUM,
        RiskLevel.HIGH,
        RiskLevel.CRITICAL,
    )

    # When they are compared / Then severity decides, for every operator
    assert low < medium < high < critical
    assert critical > high > medium > low
    assert low <= low <= medium and critical >= critical >= high
    assert not critical <= high and not low >= medium


@pytest.mark.parametrize("compare", [operator.lt, operator.le, operator.gt, operator.ge])
def test_risk_levels_do_not_compare_with_numbers(compare: Callable[[object, object], bool]) -> None:
    # Given a risk level and a number
    # When they are compared / Then neither side knows how: TypeError, not a silent answer
    with pytest.raises(TypeError):
        compare(RiskLevel.HIGH, 2)


def _alert(analysis: AnalysisResult | None) -> Alert:
    return Alert(
        clip_id="c1",
        camera_id="porch",
        camera_name="Porch",
        start_ts=datetime(2025, 1, 1, tzinfo=UTC),
        reason="person",
        detected_classes=("person",),
        analysis=analysis,
        clip_path=None,
        snapshot_path=None,
        clip_uri=None,
        snapshot_uri=None,
    )


def test_an_alert_exposes_the_analysed_risk_and_activity() -> None:
    # Given an alert with an analysis and one without (the VLM did not run)
    analysis = AnalysisResult(
        risk_level=RiskLevel.HIGH,
        activity_type=ActivityType.LOITERING,
        summary="someone waits by the door",
    )
    analysed, bare = _alert(analysis), _alert(None)

    # When their risk level and activity are read
    # Then they come from the analysis, or are None
    assert (analysed.risk_level, analysed.activity_type) == (
        RiskLevel.HIGH,
        ActivityType.LOITERING,
    )
    assert (bare.risk_level, bare.activity_type) == (None, None)
