"""The prompt a vision model gets for one clip.

The system prompt holds what is the same for every clip: the task, the risk level definitions,
every activity and entity type, the timeline rules and the answer language. The user message
holds the clip: camera name and context, local time of day, what the object filter found, and
the frames, each introduced by its time label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from openai.types.chat import (
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartParam,
    ChatCompletionContentPartTextParam,
)

from ..models import (
    RISK_LEVEL_DESCRIPTIONS,
    ActivityType,
    EntityType,
    FilterResult,
    RiskLevel,
)
from .frames import EncodedFrame, format_time_label
from .schema import AnalysisValidationError, analysis_json_schema

ImageDetail = Literal["auto", "low", "high"]


@dataclass(frozen=True, slots=True)
class CameraContext:
    """What the model is told about a camera: its name and free text written by the user."""

    name: str
    context_text: str = ""


ACTIVITY_TYPE_HINTS: dict[ActivityType, str] = {
    ActivityType.DELIVERY: "a courier or delivery person drops off or picks up a parcel",
    ActivityType.PERSON_AT_DOOR: "someone comes to the door (knocks, rings, waits, enters)",
    ActivityType.PASSERBY: "people walking or cycling past without stopping",
    ActivityType.VEHICLE_ACTIVITY: "vehicles arriving, leaving, parking or passing",
    ActivityType.ANIMAL_ACTIVITY: "pets or wild animals",
    ActivityType.LOITERING: "someone lingering or returning without an evident purpose",
    ActivityType.SUSPICIOUS_BEHAVIOR: (
        "trying handles or windows, looking into cars, taking what is not theirs, hiding their face"
    ),
    ActivityType.DANGEROUS_ACTIVITY: "forced entry, a weapon, violence, fire",
    ActivityType.NO_ACTIVITY: "nothing relevant happens (lighting change, moving foliage)",
    ActivityType.UNKNOWN: "cannot be told from the frames",
}

# Language codes Home Assistant commonly reports, for a readable instruction.
_LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "bg": "Bulgarian",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hr": "Croatian",
    "hu": "Hungarian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "nb": "Norwegian",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "zh": "Chinese",
}


def language_name(language: str) -> str:
    """`"de"` / `"pt-BR"` -> `"German"` / `"Portuguese"`; a name is returned as given."""
    text = language.strip()
    if not text:
        return "English"
    base = text.replace("_", "-").split("-")[0].lower()
    return _LANGUAGE_NAMES.get(base, text)


def time_of_day(local: datetime) -> str:
    """night / morning / afternoon / evening, from the local hour."""
    hour = local.hour
    if hour < 6 or hour >= 22:
        return "night"
    if hour < 12:
        return "morning"
    if hour < 18:
        return "afternoon"
    return "evening"


def build_system_prompt(*, language: str, include_schema: bool) -> str:
    """The instructions shared by every clip.

    `include_schema` adds the JSON schema itself, for servers that cannot enforce it
    (json_object mode or no response_format at all).
    """
    risk_lines = "\n".join(
        f"- {level.value}: {RISK_LEVEL_DESCRIPTIONS[level]}" for level in RiskLevel
    )
    activity_lines = "\n".join(
        f"- {activity.value}: {ACTIVITY_TYPE_HINTS[activity]}" for activity in ActivityType
    )
    entity_types = ", ".join(entity.value for entity in EntityType)
    lang = language_name(language)
    parts = [
        "You are the analysis stage of a home security camera system. You get frames of one "
        "video clip in time order; each frame is introduced by its time from the start of "
        "the clip (for example t=3.0s). Judge what happens in the clip and answer with one "
        "JSON object.",
        f"Risk levels, from lowest to highest:\n{risk_lines}",
        f"Activity types (pick exactly one for activity_type):\n{activity_lines}",
        f"Entity types (for each entity's type): {entity_types}.",
        "Rules:\n"
        "- Describe only what the frames show; never invent people, objects or actions.\n"
        "- first_seen_s and last_seen_s are seconds from the start of the clip. Use only the "
        "times of the labelled frames: first_seen_s is the label of the first frame the "
        "entity is in, last_seen_s the label of the last one (the same value when it is in "
        "one frame only).\n"
        "- The object detector's findings are hints; it can miss things or be wrong.\n"
        "- Take the camera's context and the local time of day into account: activity in a "
        "private area at night is more unusual than during the day.\n"
        "- Set requires_review to true when the clip is unclear or the risk is high or "
        "critical.\n"
        f"- Write summary, observations, description, movement, location and interaction in "
        f"{lang}. The values of risk_level, activity_type and type stay exactly as listed "
        "above (English, lower case).",
        "Answer with the JSON object only, with no other text.",
    ]
    if include_schema:
        schema = json.dumps(analysis_json_schema(), separators=(",", ":"))
        parts.append(
            "The JSON object must follow this JSON schema (every key is required):\n" + schema
        )
    return "\n\n".join(parts)


def describe_filter(filter_result: FilterResult) -> str:
    """One line per detected class: best confidence and when it was seen."""
    if filter_result.passthrough:
        return "No object detector ran on this clip."
    if not filter_result.detected_classes:
        return "The object detector found no object of interest (it may have missed something)."
    lines = ["The object detector found:"]
    for label in filter_result.detected_classes:
        confidence = filter_result.best_confidence.get(label)
        times = sorted(d.timestamp_s for d in filter_result.detections if d.label == label)
        details = [f"best confidence {confidence:.2f}"] if confidence is not None else []
        if times:
            first, last = format_time_label(times[0]), format_time_label(times[-1])
            details.append(f"seen at {first}" if first == last else f"seen {first} to {last}")
        lines.append(f"- {label}" + (f" ({', '.join(details)})" if details else ""))
    return "\n".join(lines)


def build_clip_text(
    *,
    camera: CameraContext,
    local_start: datetime,
    duration_s: float,
    filter_result: FilterResult,
    frames: Sequence[EncodedFrame],
) -> str:
    """The text that introduces the clip's frames."""
    lines = [f"Camera: {camera.name}"]
    if camera.context_text.strip():
        lines.append(f"About this camera: {camera.context_text.strip()}")
    lines.append(
        f"Clip recorded: {local_start:%A %H:%M} local time ({time_of_day(local_start)}), "
        f"{duration_s:.1f} s long."
    )
    lines.append(describe_filter(filter_result))
    labels = ", ".join(frame.label for frame in frames)
    lines.append(
        f"{len(frames)} frames follow, at {labels}. Use only these times for the entity timeline."
    )
    return "\n".join(lines)


def image_detail_value(value: str) -> ImageDetail:
    """The `detail` of image parts ("low", "high", anything else "auto")."""
    if value == "low":
        return "low"
    if value == "high":
        return "high"
    return "auto"


def build_user_content(
    *,
    camera: CameraContext,
    local_start: datetime,
    duration_s: float,
    filter_result: FilterResult,
    frames: Sequence[EncodedFrame],
    image_detail: str,
) -> list[ChatCompletionContentPartParam]:
    """The user message: the clip text, then each frame's label followed by its image."""
    text: ChatCompletionContentPartTextParam = {
        "type": "text",
        "text": build_clip_text(
            camera=camera,
            local_start=local_start,
            duration_s=duration_s,
            filter_result=filter_result,
            frames=frames,
        ),
    }
    parts: list[ChatCompletionContentPartParam] = [text]
    detail = image_detail_value(image_detail)
    for index, frame in enumerate(frames, start=1):
        label: ChatCompletionContentPartTextParam = {
            "type": "text",
            "text": f"Frame {index} of {len(frames)}, {frame.label}:",
        }
        image: ChatCompletionContentPartImageParam = {
            "type": "image_url",
            "image_url": {"url": frame.data_url(), "detail": detail},
        }
        parts.extend((label, image))
    return parts


def correction_text(error: AnalysisValidationError) -> str:
    """What the model is told when its answer was not a valid analysis."""
    problems = "\n".join(f"- {problem}" for problem in error.problems)
    return (
        "Your answer is not a valid analysis:\n"
        f"{problems}\n"
        "Answer again with the corrected JSON object only, following the rules and the "
        "allowed values exactly."
    )
