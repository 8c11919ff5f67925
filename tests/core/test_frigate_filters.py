"""Which Frigate events and review items are taken: the match matrix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.homesec_nvr.core.sources.frigate_filters import (
    MATCHED,
    FrigateMatchSettings,
    match_event,
    match_review,
)
from custom_components.homesec_nvr.core.sources.frigate_messages import (
    FrigateEvent,
    FrigateReview,
    parse_event_message,
    parse_review_message,
)

from .frigate_server import event_message, review_message


def _event(**fields: Any) -> FrigateEvent:
    return parse_event_message(event_message("end", **fields)).after


def _review(**fields: Any) -> FrigateReview:
    return parse_review_message(review_message("end", **fields)).after


def _settings(**overrides: Any) -> FrigateMatchSettings:
    base: dict[str, Any] = {"labels": ["person", "car"], "min_score": 0.7, "min_duration_s": 1.0}
    base.update(overrides)
    return FrigateMatchSettings.from_mapping(base)


def test_a_typical_event_matches() -> None:
    # Given a person event in the porch zone and the default-like settings
    event, settings = _event(), _settings()

    # When it is matched
    result = match_event(event, settings)

    # Then it is taken
    assert result == (True, MATCHED)


@pytest.mark.parametrize(
    ("fields", "overrides", "matched", "reason_part"),
    [
        # false positives
        ({"false_positive": True}, {}, False, "false positive"),
        ({"false_positive": True}, {"skip_false_positives": False}, True, MATCHED),
        # cameras
        ({"camera": "garage"}, {"cameras": ["front_door"]}, False, "camera 'garage'"),
        ({"camera": "garage"}, {"cameras": []}, True, MATCHED),
        # labels
        ({"label": "dog"}, {}, False, "label 'dog'"),
        ({"label": "car"}, {}, True, MATCHED),
        ({"label": "dog"}, {"labels": []}, True, MATCHED),
        # sub-labels, in each form
        ({"sub_label": ["bob", 0.9]}, {"sub_labels": ["bob"]}, True, MATCHED),
        ({"sub_label": "bob"}, {"sub_labels": ["bob"]}, True, MATCHED),
        ({"sub_label": ["bob", None]}, {"sub_labels": ["bob"]}, True, MATCHED),
        ({"sub_label": None}, {"sub_labels": ["bob"]}, False, "sub-label None"),
        ({"sub_label": ["eve", 0.9]}, {"sub_labels": ["bob"]}, False, "sub-label 'eve'"),
        # scores: top score, current score as fallback, unknown score
        ({"top_score": 0.65}, {}, False, "top score 0.65 below 0.70"),
        ({"top_score": 0.7}, {}, True, MATCHED),
        ({"top_score": None, "score": 0.8}, {}, True, MATCHED),
        ({"top_score": None, "score": None}, {}, False, "top score unknown"),
        ({"top_score": None, "score": None}, {"min_score": 0}, True, MATCHED),
        # zones: entered zones, current zones as fallback
        ({"entered_zones": ["porch"]}, {"zones": ["porch"]}, True, MATCHED),
        ({"entered_zones": ["street"]}, {"zones": ["porch"]}, False, "zones (street)"),
        (
            {"entered_zones": [], "current_zones": ["porch"]},
            {"zones": ["porch"]},
            True,
            MATCHED,
        ),
        (
            {"entered_zones": ["street"], "current_zones": ["porch"]},
            {"zones": ["porch"]},
            False,
            "zones (street)",
        ),
        ({"entered_zones": [], "current_zones": []}, {"zones": ["porch"]}, False, "no zone"),
        ({"entered_zones": ["street"]}, {"zones": []}, True, MATCHED),
        # duration
        ({"end_time": 1718123456.5}, {}, False, "duration 0.5s below 1.0s"),
        ({"end_time": 1718123456.5}, {"min_duration_s": 0}, True, MATCHED),
        ({"end_time": None}, {}, True, MATCHED),
    ],
)
def test_event_match_matrix(
    fields: dict[str, Any], overrides: dict[str, Any], matched: bool, reason_part: str
) -> None:
    # Given an event differing from the typical one in `fields`, and settings with `overrides`
    event, settings = _event(**fields), _settings(**overrides)

    # When it is matched
    ok, reason = match_event(event, settings)

    # Then the outcome and its reason are as expected
    assert ok is matched
    assert reason_part in reason


@pytest.mark.parametrize(
    ("fields", "overrides", "matched", "reason_part"),
    [
        ({}, {}, True, MATCHED),
        # severity
        ({"severity": "detection"}, {}, False, "severity 'detection'"),
        ({"severity": "detection"}, {"severities": ["alert", "detection"]}, True, MATCHED),
        ({"severity": None}, {}, False, "severity None"),
        ({"severity": None}, {"severities": []}, True, MATCHED),
        # cameras
        ({"camera": "garage"}, {"cameras": ["front_door"]}, False, "camera 'garage'"),
        # labels (objects, with -verified stripped)
        (
            {"data": {"objects": ["person-verified"], "zones": ["porch"]}},
            {"labels": ["person"]},
            True,
            MATCHED,
        ),
        ({"data": {"objects": ["dog"], "zones": []}}, {}, False, "objects (dog)"),
        ({"data": {"objects": [], "zones": []}}, {}, False, "no object"),
        # sub-labels
        (
            {"data": {"objects": ["person"], "sub_labels": ["bob"], "zones": []}},
            {"sub_labels": ["bob"]},
            True,
            MATCHED,
        ),
        ({}, {"sub_labels": ["bob"]}, False, "no sub-label"),
        # zones
        ({}, {"zones": ["porch"]}, True, MATCHED),
        ({}, {"zones": ["street"]}, False, "zones (porch)"),
        # duration
        ({"end_time": 1718123456.5}, {}, False, "duration 0.3s"),
    ],
)
def test_review_match_matrix(
    fields: dict[str, Any], overrides: dict[str, Any], matched: bool, reason_part: str
) -> None:
    # Given a review item differing from the typical one, and settings with `overrides`
    review, settings = _review(**fields), _settings(**overrides)

    # When it is matched
    ok, reason = match_review(review, settings)

    # Then the outcome and its reason are as expected
    assert ok is matched
    assert reason_part in reason


def test_settings_from_an_empty_mapping_use_the_documented_defaults() -> None:
    # Given no options at all
    options: dict[str, Any] = {}

    # When settings are built from them
    settings = FrigateMatchSettings.from_mapping(options)

    # Then they take people only, score >= 0.7, >= 1 s, alerts only, skipping false positives
    assert settings.labels == frozenset({"person"})
    assert settings.min_top_score == pytest.approx(0.7)
    assert settings.min_duration_s == pytest.approx(1.0)
    assert settings.severities == frozenset({"alert"})
    assert settings.cameras == frozenset()
    assert settings.skip_false_positives is True


def test_settings_accept_a_single_string_and_strip_blanks() -> None:
    # Given options typed by hand: a string instead of a list, blank entries
    options = json.loads('{"labels": "car", "zones": [" porch ", ""], "cameras": null}')

    # When settings are built from them
    settings = FrigateMatchSettings.from_mapping(options)

    # Then they are clean sets
    assert settings.labels == frozenset({"car"})
    assert settings.zones == frozenset({"porch"})
    assert settings.cameras == frozenset()
