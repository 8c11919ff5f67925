"""The `frigate` object filter: Frigate's metadata becomes the filter result, no decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from custom_components.homesec_nvr.core.filters.frigate import (
    FrigateDetectionFilter,
    frigate_filter_result,
    frigate_sub_labels,
)
from custom_components.homesec_nvr.core.interfaces import PermanentError
from custom_components.homesec_nvr.core.models import Clip, Detection

from .frigate_server import SNAPSHOT_JPEG

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _clip(path: Path, metadata: dict[str, Any], source_type: str = "frigate") -> Clip:
    return Clip(
        clip_id="frigate-1718123456.123456-abc123",
        camera_id="frigate-front_door",
        camera_name="Front Door",
        source_type=source_type,
        path=path,
        start_ts=START,
        end_ts=START + timedelta(seconds=4),
        metadata=metadata,
    )


def _event_metadata(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "frigate_event_id": "1718123456.123456-abc123",
        "frigate_camera": "front_door",
        "frigate_label": "person",
        "frigate_labels": ["person"],
        "frigate_sub_label": "bob",
        "frigate_top_score": 0.89,
        "frigate_score": 0.8,
        "frigate_box": [100, 120, 180, 300],
        "frigate_snapshot_offset_s": 7.0,
        "snapshot_path": None,
    }
    data.update(overrides)
    return data


async def test_an_event_clip_becomes_a_person_detection_without_decoding(tmp_path: Path) -> None:
    # Given a Frigate event clip whose "video" is not even a video, and its snapshot file
    snapshot = tmp_path / "snap.jpg"
    snapshot.write_bytes(SNAPSHOT_JPEG)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not a video")
    clip = _clip(video, _event_metadata(snapshot_path=str(snapshot)))

    # When the frigate filter looks at it
    result = await FrigateDetectionFilter().detect(clip)

    # Then the label is the class, the top score its confidence, the box kept as given
    assert result.detected_classes == ("person",)
    assert result.best_confidence == {"person": pytest.approx(0.89)}
    assert result.detections == (
        Detection(
            label="person", confidence=0.89, box=(100.0, 120.0, 180.0, 300.0), timestamp_s=7.0
        ),
    )
    assert result.model == "frigate"
    assert result.frames_sampled == 0
    assert result.passthrough is False
    assert result.best_frame_jpeg == SNAPSHOT_JPEG
    assert result.has_trigger(frozenset({"person"}))
    assert not result.has_trigger(frozenset({"car"}))


async def test_the_current_score_stands_in_for_a_missing_top_score(tmp_path: Path) -> None:
    # Given metadata without top score and without box
    clip = _clip(tmp_path / "c.mp4", _event_metadata(frigate_top_score=None, frigate_box=None))

    # When the filter runs
    result = await FrigateDetectionFilter().detect(clip)

    # Then the current score is the confidence and no detection box is invented
    assert result.best_confidence == {"person": pytest.approx(0.8)}
    assert result.detections == ()


async def test_a_review_clip_gives_every_label_without_scores(tmp_path: Path) -> None:
    # Given a review-item clip: labels, no scores, a missing snapshot file
    metadata = {
        "frigate_review_id": "1718123456.2-rev001",
        "frigate_camera": "front_door",
        "frigate_label": "person",
        "frigate_labels": ["person", "car", "person"],
        "snapshot_path": str(tmp_path / "gone.jpg"),
    }

    # When the filter runs
    result = await FrigateDetectionFilter().detect(_clip(tmp_path / "c.mp4", metadata))

    # Then each label is a detected class, without invented confidences
    assert result.detected_classes == ("person", "car")
    assert result.best_confidence == {}
    assert result.best_frame_jpeg is None
    assert result.has_trigger(frozenset({"car"}))


async def test_a_clip_without_frigate_metadata_is_a_permanent_error(tmp_path: Path) -> None:
    # Given a clip from another source
    clip = _clip(tmp_path / "c.mp4", {"file_name": "c.mp4"}, source_type="local_folder")

    # When the frigate filter is asked about it
    with pytest.raises(PermanentError) as caught:
        await FrigateDetectionFilter().detect(clip)

    # Then it refuses permanently
    assert "no Frigate metadata" in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "classes", "confidence", "detections"),
    [
        ({"frigate_top_score": True, "frigate_score": "x"}, ("person",), {}, 1),
        ({"frigate_top_score": 1.7}, ("person",), {"person": 1.0}, 1),
        ({"frigate_box": [1, 2, "x", 4]}, ("person",), {"person": 0.89}, 0),
        ({"frigate_box": [1, 2, 3]}, ("person",), {"person": 0.89}, 0),
        ({"frigate_labels": None, "frigate_label": "car"}, ("car",), {"car": 0.89}, 1),
        ({"frigate_labels": [], "frigate_label": None}, (), {}, 0),
    ],
)
def test_odd_metadata_values_are_handled(
    overrides: dict[str, Any],
    classes: tuple[str, ...],
    confidence: dict[str, float],
    detections: int,
) -> None:
    # Given Frigate metadata with odd values (hand-edited, or from an older version)
    metadata = _event_metadata(**overrides)

    # When the filter result is built from it
    result = frigate_filter_result(metadata)

    # Then odd values are dropped or clamped, never trusted
    assert result.detected_classes == classes
    assert result.best_confidence == pytest.approx(confidence)
    assert len(result.detections) == detections


def test_sub_labels_are_kept_from_events_and_reviews() -> None:
    # Given an event's sub-label and a review's sub-labels
    event_meta = _event_metadata(frigate_sub_label="bob")
    review_meta = {"frigate_sub_label": "bob", "frigate_sub_labels": ["bob", "amazon", ""]}

    # When the recognised names are read
    from_event = frigate_sub_labels(event_meta)
    from_review = frigate_sub_labels(review_meta)

    # Then each name appears once, in order
    assert from_event == ("bob",)
    assert from_review == ("bob", "amazon")
    assert frigate_sub_labels({}) == ()
