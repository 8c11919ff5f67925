"""The JSON schema of the vision model's answer, and tolerant parsing of that answer.

The schema is built from the domain model (`AnalysisResult`, `TimelineEntity` and their enums),
so it cannot drift from what the pipeline stores: enums are strings, every key is required and
no other key is allowed (the rules of OpenAI's strict structured outputs).

Parsing forgives what models commonly get wrong (code fences, prose around the object, enum
values in another case or with spaces, numbers as strings, a wrapping object) and reports what
cannot be forgiven as an `AnalysisValidationError` whose message can be shown to the model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import reprlib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..models import ActivityType, AnalysisResult, EntityType, RiskLevel, TimelineEntity

SCHEMA_NAME = "homesec_clip_analysis"

# Fields the analyzer fills in itself: never asked of the model.
_NOT_ASKED = frozenset({"model", "prompt_tokens", "completion_tokens"})

# The order keys are asked in: what was seen first, the judgement last (models write the keys
# of a structured answer in schema order, so the verdict follows the evidence).
_ANALYSIS_ORDER = (
    "observations",
    "entities",
    "summary",
    "activity_type",
    "risk_level",
    "requires_review",
)

FIELD_DESCRIPTIONS: dict[str, str] = {
    "observations": "Short factual statements about what the frames show, in time order.",
    "entities": "Timeline of every person, vehicle, animal, package or object that matters.",
    "summary": "One or two sentences: what happened in the clip.",
    "activity_type": "The single activity type that best describes the clip.",
    "risk_level": "How worrying the clip is, by the risk level definitions.",
    "requires_review": "True when a human should look at the clip (unclear or worrying).",
    "type": "What kind of entity this is.",
    "first_seen_s": "Seconds from clip start when it is first visible (from the frame labels).",
    "last_seen_s": "Seconds from clip start when it is last visible (from the frame labels).",
    "description": "What it looks like (clothing, colour, size, make).",
    "movement": "How it moves (approaching, leaving, standing still ...).",
    "location": "Where in the scene it is (at the door, on the driveway ...).",
    "interaction": "What it does with the property or others (rings the bell, picks up ...).",
}

# Common spellings models use for enum values, after normalisation.
_ALIASES: dict[type[StrEnum], dict[str, str]] = {
    RiskLevel: {"moderate": "medium", "none": "low", "minimal": "low", "severe": "critical"},
    ActivityType: {
        "passer_by": "passerby",
        "passersby": "passerby",
        "passers_by": "passerby",
        "suspicious_behaviour": "suspicious_behavior",
        "suspicious": "suspicious_behavior",
        "dangerous": "dangerous_activity",
        "none": "no_activity",
        "nothing": "no_activity",
        "package_delivery": "delivery",
        "vehicle": "vehicle_activity",
        "animal": "animal_activity",
        "other": "unknown",
    },
    EntityType: {
        "people": "person",
        "human": "person",
        "man": "person",
        "woman": "person",
        "child": "person",
        "car": "vehicle",
        "truck": "vehicle",
        "van": "vehicle",
        "bicycle": "vehicle",
        "motorcycle": "vehicle",
        "dog": "animal",
        "cat": "animal",
        "bird": "animal",
        "parcel": "package",
        "box": "package",
    },
}

# A fence's info string (```json).
_FENCE_INFO = re.compile(r"[a-zA-Z0-9_-]*")
# What a brace-matching pass looks at; everything else is skipped by the regex engine.
_JSON_TOKEN = re.compile(r'[{}"\\]')
# Answers longer than this are refused (an analysis is a few kilobytes; the output token
# limit keeps real answers far below it).
MAX_ANSWER_CHARS = 256 * 1024
# Passes over an answer whose braces do not balance (see _embedded_object).
_MAX_SCANS = 2
# Nesting of lists joined into a text field; deeper values are dropped.
_MAX_TEXT_DEPTH = 4
_BRIEF = reprlib.Repr(maxlevel=2, maxstring=60, maxother=60, maxlist=4, maxdict=4)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(\d+):(\d{1,2}(?:\.\d+)?)")


class AnalysisValidationError(ValueError):
    """The model's answer is not a valid analysis; `problems` lists why (for the model)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# -- schema -------------------------------------------------------------------------------


def _enum_schema(enum_type: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in enum_type]}


def _type_schema(annotation: Any) -> dict[str, Any]:
    """JSON schema of one dataclass field type (the subset the domain model uses)."""
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return _enum_schema(annotation)
    if annotation is str:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation in (float, int):
        return {"type": "number"}
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _object_schema(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (tuple, list) and args:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin in (types.UnionType, typing.Union):
        raise TypeError(f"optional fields are not part of the analysis schema: {annotation}")
    raise TypeError(f"no JSON schema for {annotation!r}")


def _object_schema(model: type[Any], order: tuple[str, ...] = ()) -> dict[str, Any]:
    hints = typing.get_type_hints(model)
    names = [f.name for f in dataclasses.fields(model) if f.name not in _NOT_ASKED]
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    properties: dict[str, Any] = {}
    for name in names:
        prop = _type_schema(hints[name])
        if name in FIELD_DESCRIPTIONS:
            prop["description"] = FIELD_DESCRIPTIONS[name]
        properties[name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def analysis_json_schema() -> dict[str, Any]:
    """The schema of the answer: AnalysisResult without the fields the analyzer fills in."""
    return _object_schema(AnalysisResult, _ANALYSIS_ORDER)


def response_format_json_schema() -> dict[str, Any]:
    """The `response_format` of a strict structured-output request."""
    return {
        "type": "json_schema",
        "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": analysis_json_schema()},
    }


# -- parsing ------------------------------------------------------------------------------


@dataclass(slots=True)
class ScanStats:
    """Work done finding the object in one answer (for the linear-time tests and benchmark).

    `scans`: passes over the text; `tokens`: characters a pass looked at (braces, quotes,
    backslashes); `decoded`: characters handed to the JSON decoder.
    """

    scans: int = 0
    tokens: int = 0
    decoded: int = 0


def _fenced_blocks(text: str) -> Iterator[str]:
    """The contents of the ``` fenced blocks, in order, in one pass (no regex backtracking)."""
    opening = text.find("```")
    while opening != -1:
        body = opening + 3
        closing = text.find("```", body)
        if closing == -1:
            return
        info = _FENCE_INFO.match(text, body, closing)
        yield text[info.end() if info else body : closing].strip()
        opening = text.find("```", closing + 3)


def _match_braces(
    text: str, begin: int, stats: ScanStats
) -> tuple[list[int], dict[int, int], bool]:
    """One pass from `begin`: where each `{` outside a JSON string starts, where its `}` is
    (unmatched ones have no entry), and whether any string was entered.

    Outside any brace the text is prose, so quotes there are not strings; inside, strings are
    followed with their escapes. A `{` found this way closes exactly where a brace count
    started at it would close: the string state does not depend on the depth.
    """
    stats.scans += 1
    starts: list[int] = []
    ends: dict[int, int] = {}
    stack: list[int] = []
    in_string = False
    strings = False
    escaped_until = -1
    for token in _JSON_TOKEN.finditer(text, begin):
        index = token.start()
        stats.tokens += 1
        if index < escaped_until:
            continue
        char = text[index]
        if in_string:
            if char == "\\":
                escaped_until = index + 2
            elif char == '"':
                in_string = False
        elif char == "{":
            stack.append(index)
            starts.append(index)
        elif char == "}":
            if stack:
                ends[stack.pop()] = index
        elif char == '"' and stack:
            in_string = strings = True
    return starts, ends, strings


def _as_object(candidate: str, stats: ScanStats) -> dict[str, Any] | None:
    stats.decoded += len(candidate)
    try:
        value = json.loads(candidate)
    except (ValueError, RecursionError):
        # RecursionError: nested deeper than the decoder goes (tens of thousands of levels).
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    return None


def _embedded_object(text: str, stats: ScanStats) -> dict[str, Any] | None:
    """The first balanced `{...}` block that is a JSON object, in linear time.

    Blocks are tried in order; a block that is not JSON is skipped as a whole (nothing
    nested in it is tried), so the blocks tried never overlap and the decoder sees each
    character at most once per pass. A `{` that never closes is passed over; when one did and
    strings were seen, one more pass starts just after it (quotes in prose inside it may have
    thrown the string state off), at most `_MAX_SCANS` passes in all.
    """
    begin = 0
    for _ in range(_MAX_SCANS):
        starts, ends, strings = _match_braces(text, begin, stats)
        resume_at = 0
        first_unmatched: int | None = None
        for start in starts:
            if start < resume_at:
                continue
            end = ends.get(start)
            if end is None:
                if first_unmatched is None:
                    first_unmatched = start
                continue
            if (found := _as_object(text[start : end + 1], stats)) is not None:
                return found
            resume_at = end + 1
        if first_unmatched is None or not strings:
            return None
        begin = first_unmatched + 1
    return None


def extract_json_object(text: str, stats: ScanStats | None = None) -> dict[str, Any]:
    """The JSON object in a model's answer (bare, fenced, or with prose around it).

    Linear in the answer's length; an answer longer than MAX_ANSWER_CHARS is refused.
    """
    stats = stats if stats is not None else ScanStats()
    if len(text) > MAX_ANSWER_CHARS:
        raise AnalysisValidationError(
            [
                f"the answer is {len(text)} characters long, more than {MAX_ANSWER_CHARS}; "
                "answer with one short JSON object"
            ]
        )
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise AnalysisValidationError(["the answer is empty; answer with one JSON object"])
    for candidate in (stripped, *_fenced_blocks(stripped)):
        if (found := _as_object(candidate, stats)) is not None:
            return found
    # Prose around the object: the first balanced {...} block that is an object.
    if (found := _embedded_object(stripped, stats)) is not None:
        return found
    raise AnalysisValidationError(["the answer does not contain a valid JSON object"])


def normalise_enum_text(value: str) -> str:
    """`"Person At Door"` -> `"person_at_door"`."""
    return re.sub(r"[\s\-]+", "_", value.strip().strip(".").lower())


def coerce_enum[E: StrEnum](enum_type: type[E], value: object) -> E | None:
    """The enum member a model's value means, or None."""
    if not isinstance(value, str):
        return None
    text = normalise_enum_text(value)
    text = _ALIASES.get(enum_type, {}).get(text, text)
    try:
        return enum_type(text)
    except ValueError:
        return None


def coerce_seconds(value: object) -> float | None:
    """Seconds from a number, "3.5", "3.5s", "t=3.5s" or "0:03"; None when not a time (also
    for numbers no float holds: 400 digits, or more digits than Python converts)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            text = value.strip().lower()
            clock = _CLOCK.fullmatch(text)
            if clock:
                result = int(clock.group(1)) * 60 + float(clock.group(2))
            else:
                match = _NUMBER.search(text)
                if match is None:
                    return None
                result = float(match.group(0))
        else:
            return None
    except (OverflowError, ValueError):
        return None
    return result if math.isfinite(result) else None


def coerce_bool(value: object) -> bool | None:
    """A boolean from true/false, "yes"/"no", 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes", "y", "1"):
            return True
        if text in ("false", "no", "n", "0", ""):
            return False
    return None


def _text(value: object, depth: int = 0) -> str:
    """A string field as text: lists are joined (nested ones only so deep), other values
    shown briefly (a deeply nested answer must not recurse without bound)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        if depth >= _MAX_TEXT_DEPTH:
            return ""
        return "; ".join(t for t in (_text(v, depth + 1) for v in value if v is not None) if t)
    if isinstance(value, bool | int | float):
        return str(value)
    return _brief(value)


def _brief(value: object) -> str:
    """A short repr of a model's value for an error message, whatever its size or depth."""
    return _BRIEF.repr(value)


def _unwrap(data: dict[str, Any]) -> dict[str, Any]:
    """Accept `{"analysis": {...}}` and similar single wrappers."""
    if "risk_level" in data or "activity_type" in data:
        return data
    nested = [v for v in data.values() if isinstance(v, dict)]
    if len(nested) == 1 and ("risk_level" in nested[0] or "activity_type" in nested[0]):
        return nested[0]
    return data


def _allowed(enum_type: type[StrEnum]) -> str:
    return ", ".join(member.value for member in enum_type)


def _clamp(value: float, duration_s: float | None) -> float:
    value = max(0.0, value)
    return min(value, duration_s) if duration_s is not None and duration_s > 0 else value


def _entities(
    raw: object, duration_s: float | None, problems: list[str]
) -> tuple[TimelineEntity, ...]:
    if raw is None:
        return ()
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        problems.append("entities must be an array of objects")
        return ()
    entities: list[TimelineEntity] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"entities[{index}] must be an object")
            continue
        first = coerce_seconds(item.get("first_seen_s"))
        last = coerce_seconds(item.get("last_seen_s"))
        if first is None and last is None:
            first = last = 0.0
        elif first is None:
            first = last
        elif last is None:
            last = first
        assert first is not None
        assert last is not None
        first, last = sorted((_clamp(first, duration_s), _clamp(last, duration_s)))
        entities.append(
            TimelineEntity(
                type=coerce_enum(EntityType, item.get("type")) or EntityType.UNKNOWN,
                first_seen_s=round(first, 2),
                last_seen_s=round(last, 2),
                description=_text(item.get("description")),
                movement=_text(item.get("movement")),
                location=_text(item.get("location")),
                interaction=_text(item.get("interaction")),
            )
        )
    return tuple(entities)


def parse_analysis(text: str, duration_s: float | None = None) -> AnalysisResult:
    """Validate a model's answer into an AnalysisResult (without model and token fields).

    Timeline times are clamped to [0, duration_s]. Entity types the model invents become
    `unknown`; a missing or unknown risk level or activity type, a missing summary, or a shape
    that cannot be read raises AnalysisValidationError.
    """
    data = _unwrap(extract_json_object(text))
    problems: list[str] = []

    risk = coerce_enum(RiskLevel, data.get("risk_level"))
    if risk is None:
        problems.append(
            f"risk_level must be one of {_allowed(RiskLevel)} "
            f"(got {_brief(data.get('risk_level'))})"
        )
    activity = coerce_enum(ActivityType, data.get("activity_type"))
    if activity is None:
        problems.append(
            f"activity_type must be one of {_allowed(ActivityType)} "
            f"(got {_brief(data.get('activity_type'))})"
        )
    summary = _text(data.get("summary"))
    if not summary:
        problems.append("summary must be a non-empty string")

    raw_observations = data.get("observations")
    observations: tuple[str, ...] = ()
    if isinstance(raw_observations, str):
        observations = (raw_observations.strip(),) if raw_observations.strip() else ()
    elif isinstance(raw_observations, list):
        observations = tuple(t for t in (_text(o) for o in raw_observations) if t)
    elif raw_observations is not None:
        problems.append("observations must be an array of strings")

    entities = _entities(data.get("entities"), duration_s, problems)

    review = coerce_bool(data.get("requires_review", False))
    if review is None:
        problems.append("requires_review must be true or false")

    if problems:
        raise AnalysisValidationError(problems)
    assert risk is not None
    assert activity is not None
    return AnalysisResult(
        risk_level=risk,
        activity_type=activity,
        summary=summary,
        observations=observations,
        entities=entities,
        requires_review=bool(review),
    )
