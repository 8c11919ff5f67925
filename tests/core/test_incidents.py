"""Incidents for the calendar (core/incidents.py): grouping, range and words, without HA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.homesec_nvr.core.incidents import (
    group_incidents,
    incident_description,
    incident_summary,
    overlapping,
)
from custom_components.homesec_nvr.core.models import (
    EVENT_KEY,
    ActivityType,
    AnalysisResult,
    ClipState,
    ClipStatus,
    FilterResult,
    RiskLevel,
)

T0 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def _state(
    clip_id: str,
    minute: int,
    *,
    camera_id: str = "cam",
    event_key: str | None = None,
    risk: RiskLevel | None = None,
    summary: str = "",
    detected: tuple[str, ...] = (),
    status: ClipStatus = ClipStatus.DONE,
) -> ClipState:
    start = T0 + timedelta(minutes=minute)
    return ClipState(
        clip_id=clip_id,
        camera_id=camera_id,
        camera_name="Front door" if camera_id == "cam" else "Garage",
        source_type="rtsp",
        source_path=f"/in/{clip_id}.mp4",
        status=status,
        start_ts=start,
        end_ts=start + timedelta(seconds=30),
        created_at=start,
        updated_at=start,
        metadata={EVENT_KEY: event_key} if event_key else {},
        filter_result=FilterResult(
            detected_classes=detected,
            best_confidence=dict.fromkeys(detected, 0.9),
            detections=(),
            frames_sampled=3,
            model="test",
            duration_ms=1,
        ),
        analysis=(
            AnalysisResult(risk_level=risk, activity_type=ActivityType.DELIVERY, summary=summary)
            if risk is not None
            else None
        ),
    )


def _summary(states: list[ClipState]) -> list[str]:
    return [
        incident_summary(i, lambda a: a.capitalize(), str, "no objects")
        for i in group_incidents(states)
    ]


def test_clips_of_one_event_are_one_incident_per_camera() -> None:
    # Given two clips of event ev-1, a clip of another camera with the same key, and a loose
    # clip, plus one still processing
    states = [
        _state("b", 3, event_key="ev-1", risk=RiskLevel.HIGH, summary="Tries the door."),
        _state("a", 1, event_key="ev-1", risk=RiskLevel.LOW, summary="Walks up."),
        _state("g", 2, camera_id="garage", event_key="ev-1", detected=("car",)),
        _state("c", 9, detected=()),
        _state("p", 10, status=ClipStatus.QUEUED),
    ]

    # When they are grouped
    incidents = group_incidents(states)

    # Then there are three incidents, oldest first; the processing clip is left out
    assert [[c.clip_id for c in i.clips] for i in incidents] == [["a", "b"], ["g"], ["c"]]
    first = incidents[0]
    assert first.start == T0 + timedelta(minutes=1)
    assert first.end == T0 + timedelta(minutes=3, seconds=30)
    # And each reads as its riskiest clip, or its objects, or "no objects"
    assert _summary(states) == [
        "Front door · Delivery · high",
        "Garage · car",
        "Front door · no objects",
    ]
    assert incident_description(first) == "Walks up.\nTries the door."
    assert incident_description(incidents[1]) == "car"
    assert incident_description(incidents[2]) == ""


def test_a_range_lists_the_incidents_that_overlap_it() -> None:
    # Given incidents at 14:01-14:03:30 and 14:09-14:09:30
    incidents = group_incidents(
        [
            _state("a", 1, event_key="ev-1"),
            _state("b", 3, event_key="ev-1"),
            _state("c", 9),
        ]
    )

    # When ranges around and between them are asked for
    def listed(start_min: float, end_min: float) -> list[str]:
        start, end = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)
        return [i.uid for i in overlapping(incidents, start, end)]

    # Then an incident is listed when it overlaps the range, not when it ends before or
    # starts at the range's end
    assert listed(0, 60) == ["cam/ev-1", "c"]
    assert listed(2, 3) == ["cam/ev-1"]
    assert listed(3.6, 9) == []
    assert listed(9.2, 10) == ["c"]
