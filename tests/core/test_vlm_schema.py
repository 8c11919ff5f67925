"""The answer's JSON schema (built from the domain model) and tolerant parsing of answers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from custom_components.homesec_nvr.core.models import (
    ActivityType,
    AnalysisResult,
    EntityType,
    RiskLevel,
    TimelineEntity,
)
from custom_components.homesec_nvr.core.vlm.schema import (
    AnalysisValidationError,
    analysis_json_schema,
    coerce_enum,
    coerce_seconds,
    extract_json_object,
    parse_analysis,
    response_format_json_schema,
)

VALID: dict[str, Any] = {
    "observations": ["A cat crosses the lawn"],
    "entities": [
        {
            "type": "animal",
            "first_seen_s": 1.0,
            "last_seen_s": 2.0,
            "description": "black cat",
            "movement": "walks left to right",
            "location": "lawn",
            "interaction": "none",
        }
    ],
    "summary": "A cat walked across the lawn.",
    "activity_type": "animal_activity",
    "risk_level": "low",
    "requires_review": False,
}


def answer(**overrides: Any) -> str:
    return json.dumps({**VALID, **overrides})


def objects_in(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object schema, recursively."""
    found = [schema] if schema.get("type") == "object" else []
    for prop in schema.get("properties", {}).values():
        found.extend(objects_in(prop))
    if "items" in schema:
        found.extend(objects_in(schema["items"]))
    return found


def test_schema_enums_are_the_models_string_values() -> None:
    # Given the schema built from the model
    schema = analysis_json_schema()

    # When its enums are read
    props = schema["properties"]
    entity_props = props["entities"]["items"]["properties"]

    # Then they are exactly the enum values, as strings
    assert props["risk_level"] == {**props["risk_level"], "type": "string"}
    assert props["risk_level"]["enum"] == ["low", "medium", "high", "critical"]
    assert props["activity_type"]["enum"] == [a.value for a in ActivityType]
    assert "person_at_door" in props["activity_type"]["enum"]
    assert entity_props["type"]["enum"] == [e.value for e in EntityType]
    assert entity_props["type"]["type"] == "string"


def test_schema_fields_follow_the_dataclasses_and_strict_mode_rules() -> None:
    # Given the schema
    schema = analysis_json_schema()

    # When its properties and objects are inspected
    asked = {f.name for f in dataclasses.fields(AnalysisResult)} - {
        "model",
        "prompt_tokens",
        "completion_tokens",
    }
    entity_fields = {f.name for f in dataclasses.fields(TimelineEntity)}

    # Then it asks every analysis field, nothing the analyzer fills in, and each object
    # requires all its keys and allows no others
    assert set(schema["properties"]) == asked
    assert set(schema["properties"]["entities"]["items"]["properties"]) == entity_fields
    for obj in objects_in(schema):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert schema["properties"]["observations"] == {
        **schema["properties"]["observations"],
        "type": "array",
        "items": {"type": "string"},
    }
    # the verdict comes after the evidence
    keys = list(schema["properties"])
    assert keys.index("observations") < keys.index("risk_level")


def test_response_format_is_strict_json_schema() -> None:
    # Given / When the response_format is built
    response_format = response_format_json_schema()

    # Then it is a named, strict json_schema
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["name"]
    assert response_format["json_schema"]["schema"] == analysis_json_schema()


def test_a_valid_answer_parses() -> None:
    # Given a valid answer
    # When it is parsed
    result = parse_analysis(answer(), duration_s=10.0)

    # Then every field is read
    assert result == AnalysisResult(
        risk_level=RiskLevel.LOW,
        activity_type=ActivityType.ANIMAL_ACTIVITY,
        summary="A cat walked across the lawn.",
        observations=("A cat crosses the lawn",),
        entities=(
            TimelineEntity(
                EntityType.ANIMAL, 1.0, 2.0, "black cat", "walks left to right", "lawn", "none"
            ),
        ),
        requires_review=False,
    )


@pytest.mark.parametrize(
    "text",
    [
        f"```json\n{answer()}\n```",
        f"```\n{answer()}\n```",
        f"Sure! Here is the analysis:\n{answer()}\nLet me know if you need more.",
        f"Thinking {{briefly}} first.\n{answer()}",
        json.dumps({"analysis": VALID}),
        json.dumps([VALID]),
    ],
    ids=["fenced-json", "fenced", "prose", "braces-in-prose", "wrapped", "array"],
)
def test_answers_around_the_object_are_understood(text: str) -> None:
    # Given an answer with the object fenced, in prose, wrapped or in an array
    # When it is parsed
    result = parse_analysis(text)

    # Then the object inside is found
    assert result.activity_type is ActivityType.ANIMAL_ACTIVITY


def test_loose_values_are_normalised() -> None:
    # Given enum values in other case and with spaces, numbers and booleans as strings
    text = answer(
        risk_level=" HIGH ",
        activity_type="Suspicious Behaviour",
        requires_review="yes",
        observations="one observation",
        entities=[
            {"type": "Car", "first_seen_s": "t=2.5s", "last_seen_s": "0:04", "description": 7},
            {"type": "spaceship", "first_seen_s": 3},
        ],
    )

    # When it is parsed
    result = parse_analysis(text, duration_s=10.0)

    # Then it is understood: unknown entity types become unknown, missing times are filled in
    assert result.risk_level is RiskLevel.HIGH
    assert result.activity_type is ActivityType.SUSPICIOUS_BEHAVIOR
    assert result.requires_review is True
    assert result.observations == ("one observation",)
    car, other = result.entities
    assert (car.type, car.first_seen_s, car.last_seen_s, car.description) == (
        EntityType.VEHICLE,
        2.5,
        4.0,
        "7",
    )
    assert (other.type, other.first_seen_s, other.last_seen_s) == (EntityType.UNKNOWN, 3.0, 3.0)


def test_timeline_times_are_clamped_to_the_clip_and_ordered() -> None:
    # Given times outside a 6 s clip, first after last
    text = answer(entities=[{"type": "person", "first_seen_s": 30, "last_seen_s": -2}])

    # When it is parsed
    (entity,) = parse_analysis(text, duration_s=6.0).entities

    # Then they are clamped to [0, 6] and ordered
    assert (entity.first_seen_s, entity.last_seen_s) == (0.0, 6.0)


def test_invalid_enums_and_missing_summary_are_reported_together() -> None:
    # Given an answer with an unknown risk level and activity and no summary
    text = answer(risk_level="apocalyptic", activity_type="dancing", summary="")

    # When it is parsed
    with pytest.raises(AnalysisValidationError) as caught:
        parse_analysis(text)

    # Then every problem is listed, with the allowed values
    problems = caught.value.problems
    assert len(problems) == 3
    assert "risk_level must be one of low, medium, high, critical (got 'apocalyptic')" in problems
    assert any(
        p.startswith("activity_type must be one of delivery, person_at_door") for p in problems
    )
    assert "summary must be a non-empty string" in problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("I cannot see anything.", "does not contain a valid JSON object"),
        ('{"risk_level": "low", "summary": "x"', "does not contain a valid JSON object"),
        (answer(entities="a person"), "entities must be an array"),
        (answer(requires_review="maybe"), "requires_review must be true or false"),
    ],
    ids=["empty", "prose", "truncated", "entities-text", "review-maybe"],
)
def test_unreadable_answers_raise_a_validation_error(text: str, expected: str) -> None:
    # Given an answer that is not a valid analysis
    # When it is parsed
    with pytest.raises(AnalysisValidationError) as caught:
        parse_analysis(text)

    # Then the error says why
    assert expected in str(caught.value)


def test_coercion_helpers() -> None:
    # Given loose values
    # When they are coerced
    # Then enums, times and bad values come out as expected
    assert coerce_enum(ActivityType, "passer-by") is ActivityType.PASSERBY
    assert coerce_enum(ActivityType, "No Activity") is ActivityType.NO_ACTIVITY
    assert coerce_enum(RiskLevel, 3) is None
    assert coerce_seconds("1:05.5") == 65.5
    assert coerce_seconds(True) is None
    assert coerce_seconds("soon") is None
    assert coerce_seconds(float("nan")) is None
    assert extract_json_object('  {"a": 1}  ') == {"a": 1}
