"""The prompt: definitions in the system prompt, the clip's facts in the user message."""

from __future__ import annotations

from datetime import datetime

import pytest

from custom_components.homesec_nvr.core.models import (
    RISK_LEVEL_DESCRIPTIONS,
    ActivityType,
    Detection,
    EntityType,
    FilterResult,
)
from custom_components.homesec_nvr.core.vlm.frames import EncodedFrame
from custom_components.homesec_nvr.core.vlm.prompt import (
    ACTIVITY_TYPE_HINTS,
    CameraContext,
    build_clip_text,
    build_system_prompt,
    build_user_content,
    correction_text,
    describe_filter,
    language_name,
    time_of_day,
)
from custom_components.homesec_nvr.core.vlm.schema import AnalysisValidationError

FRAMES = (
    EncodedFrame(0.0, b"\xff\xd8a", 64, 36),
    EncodedFrame(2.5, b"\xff\xd8b", 64, 36),
)


def filter_with(*detections: Detection, passthrough: bool = False) -> FilterResult:
    classes = tuple(dict.fromkeys(d.label for d in detections))
    best = {c: max(d.confidence for d in detections if d.label == c) for c in classes}
    return FilterResult(classes, best, detections, 4, "yolo", 5, passthrough=passthrough)


def test_every_activity_type_has_a_hint() -> None:
    # Given the activity types and their hints
    # When they are compared
    # Then no activity type is left without a hint
    assert set(ACTIVITY_TYPE_HINTS) == set(ActivityType)


def test_the_system_prompt_defines_risk_levels_activities_entities_and_language() -> None:
    # Given / When the system prompt for French answers is built
    prompt = build_system_prompt(language="fr", include_schema=False)

    # Then it has every risk definition, activity type and entity type, and the language
    for level, description in RISK_LEVEL_DESCRIPTIONS.items():
        assert f"- {level.value}: {description}" in prompt
    for activity in ActivityType:
        assert f"- {activity.value}: " in prompt
    assert ", ".join(e.value for e in EntityType) in prompt
    assert "in French" in prompt
    assert "English, lower case" in prompt
    assert "JSON schema" not in prompt


def test_the_schema_is_in_the_prompt_when_the_server_cannot_enforce_it() -> None:
    # Given / When the system prompt is built with the schema
    prompt = build_system_prompt(language="en", include_schema=True)

    # Then the schema's enums are there verbatim
    assert '"enum":["low","medium","high","critical"]' in prompt
    assert '"additionalProperties":false' in prompt


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "English"),
        ("de", "German"),
        ("pt-BR", "Portuguese"),
        ("Klingon", "Klingon"),
        ("", "English"),
    ],
)
def test_language_codes_become_names(given: str, expected: str) -> None:
    # Given a language code or name
    # When it is named
    # Then codes become names and names stay
    assert language_name(given) == expected


@pytest.mark.parametrize(
    ("hour", "expected"),
    [(3, "night"), (7, "morning"), (13, "afternoon"), (19, "evening"), (23, "night")],
)
def test_time_of_day(hour: int, expected: str) -> None:
    # Given a local hour
    # When it is described
    # Then the period of the day is right
    assert time_of_day(datetime(2026, 1, 1, hour, 0)) == expected


def test_the_filter_findings_are_described_with_confidence_and_times() -> None:
    # Given a person seen from 1.0 to 3.5 s and a dog seen once
    result = filter_with(
        Detection("person", 0.7, (0, 0, 1, 1), 1.0),
        Detection("person", 0.91, (0, 0, 1, 1), 3.5),
        Detection("dog", 0.55, (0, 0, 1, 1), 2.0),
    )

    # When it is described
    text = describe_filter(result)

    # Then each class has its best confidence and when it was seen
    assert "- person (best confidence 0.91, seen t=1.0s to t=3.5s)" in text
    assert "- dog (best confidence 0.55, seen at t=2.0s)" in text


def test_no_detector_and_no_findings_are_said_plainly() -> None:
    # Given a passthrough filter and a filter that found nothing
    # When they are described
    # Then the model is told which it is
    assert "No object detector ran" in describe_filter(filter_with(passthrough=True))
    assert "found no object of interest" in describe_filter(filter_with())


def test_the_clip_text_has_camera_context_local_time_and_frame_labels() -> None:
    # Given a camera with context and a clip at 06:10 on a Monday
    camera = CameraContext("Garage", "  Private driveway; nobody should be here at night. ")

    # When the clip text is built
    text = build_clip_text(
        camera=camera,
        local_start=datetime(2026, 11, 23, 6, 10),
        duration_s=5.0,
        filter_result=filter_with(),
        frames=FRAMES,
    )

    # Then it names the camera, its context (the owner's notes), the local time and the
    # labelled frame times
    assert "Camera: Garage" in text
    assert "For this camera: Private driveway; nobody should be here at night." in text
    assert "Monday 06:10 local time (morning), 5.0 s long" in text
    assert "2 frames follow, at t=0.0s, t=2.5s." in text


def test_the_user_content_puts_each_image_after_its_label() -> None:
    # Given two frames and an unknown detail value
    # When the user content is built
    parts = build_user_content(
        camera=CameraContext("Garage"),
        local_start=datetime(2026, 11, 23, 6, 10),
        duration_s=5.0,
        filter_result=filter_with(),
        frames=FRAMES,
        image_detail="ultra",
    )

    # Then text, label, image, label, image, with detail falling back to auto
    assert [p["type"] for p in parts] == ["text", "text", "image_url", "text", "image_url"]
    assert parts[3] == {"type": "text", "text": "Frame 2 of 2, t=2.5s:"}
    image = parts[4]
    assert image["type"] == "image_url"
    assert image["image_url"]["detail"] == "auto"
    assert image["image_url"]["url"] == FRAMES[1].data_url()
    assert "About this camera" not in parts[0]["text"]  # type: ignore[typeddict-item]


def test_the_correction_lists_the_problems() -> None:
    # Given a validation error with two problems
    error = AnalysisValidationError(["risk_level must be one of ...", "summary is missing"])

    # When the correction is written
    text = correction_text(error)

    # Then both problems are in it
    assert "- risk_level must be one of ..." in text
    assert "- summary is missing" in text
