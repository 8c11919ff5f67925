"""One request for an incident seen by several cameras of one area.

A person walking from the driveway to the front door is two clips of two cameras. Instead of
two requests that each see half of the story, the incident is sent once: the frame budget
(`max_frames`, the same as one clip's) is shared by its clips, every frame is labelled by its
camera and its time from the start of the incident ("Front door t=14.5s"), and the frames go
in time order across cameras. The system prompt, the schema, the risk definitions and the
parsing are the single-clip ones; the timeline's seconds count from the incident's start.

Each clip gets at least one frame (two when the budget allows it); an incident holds at most
MAX_INCIDENT_CLIPS clips. The owner's notes of each camera are quoted under its name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionContentPartTextParam

from ..interfaces import IncidentClip
from ..models import ActivityType, Clip, FilterResult
from .frames import EncodedFrame, PreparedFrames, format_time_label, prepare_frames
from .prompt import (
    NOTES_END,
    NOTES_HEADING,
    NOTES_START,
    CameraContext,
    PromptText,
    build_system_prompt,
    clean_notes,
    describe_filter,
    image_parts,
    preview_text,
    time_of_day,
)

# The most clips one incident request holds (later clips of the incident are analysed alone).
MAX_INCIDENT_CLIPS = 4


@dataclass(frozen=True, slots=True)
class IncidentPart:
    """One clip of the incident as the prompt shows it: its camera, when it starts in the
    incident (seconds from the incident's start) and its frames."""

    camera: CameraContext
    offset_s: float
    incident: IncidentClip
    prepared: PreparedFrames


@dataclass(frozen=True, slots=True)
class IncidentFrame:
    """A frame placed in the incident: its camera and its time from the incident's start."""

    camera: str
    time_s: float
    frame: EncodedFrame

    @property
    def label(self) -> str:
        """`Front door t=14.5s`."""
        return f"{self.camera} {format_time_label(self.time_s)}"


def frame_shares(clips: int, max_frames: int) -> list[int]:
    """How many frames each of `clips` clips gets of a `max_frames` budget: the budget split
    as evenly as it goes (earlier clips get the remainder), at least one frame per clip."""
    if clips <= 0:
        return []
    budget = max(clips, max_frames)
    base, extra = divmod(budget, clips)
    return [base + (1 if index < extra else 0) for index in range(clips)]


def incident_start(clips: Sequence[IncidentClip]) -> datetime:
    """The start of the incident: its earliest clip's start."""
    return min(item.clip.start_ts for item in clips)


def incident_duration(parts: Sequence[IncidentPart]) -> float:
    """Seconds from the incident's start to the end of its last clip."""
    return max((part.offset_s + part.prepared.duration_s for part in parts), default=0.0)


def incident_frames_job(
    clips: Sequence[IncidentClip],
    *,
    max_frames: int,
    max_side: int,
    jpeg_quality: int,
    stop: threading.Event,
) -> Callable[[], list[PreparedFrames]]:
    """The blocking job that prepares each clip's share of the frames (in clip order)."""
    shares = frame_shares(len(clips), max_frames)

    def job() -> list[PreparedFrames]:
        return [
            prepare_frames(
                item.clip.path,
                detections=item.filter_result.detections,
                max_frames=share,
                max_side=max_side,
                jpeg_quality=jpeg_quality,
                duration_s=item.clip.duration_s,
                stop=stop,
            )
            for item, share in zip(clips, shares, strict=True)
        ]

    return job


def build_parts(
    clips: Sequence[IncidentClip],
    prepared: Sequence[PreparedFrames],
    camera_context: Callable[[IncidentClip], CameraContext],
) -> list[IncidentPart]:
    """The incident's clips with their frames, placed from the incident's start."""
    start = incident_start(clips)
    return [
        IncidentPart(
            camera=camera_context(item),
            offset_s=max(0.0, (item.clip.start_ts - start).total_seconds()),
            incident=item,
            prepared=frames,
        )
        for item, frames in zip(clips, prepared, strict=True)
    ]


def incident_frames(parts: Sequence[IncidentPart]) -> list[IncidentFrame]:
    """Every frame of the incident, in time order across cameras."""
    placed = [
        IncidentFrame(part.camera.name, round(part.offset_s + frame.timestamp_s, 3), frame)
        for part in parts
        for frame in part.prepared.frames
    ]
    return sorted(placed, key=lambda item: item.time_s)


def incident_camera(parts: Sequence[IncidentPart]) -> CameraContext:
    """What the system prompt is told about the incident's cameras together: their names, the
    first camera's language, and the activity types any of them can see (all when one of them
    names none). Each camera's notes are quoted in the clip text instead."""
    names: list[str] = []
    for part in parts:
        if part.camera.name not in names:
            names.append(part.camera.name)
    activities: set[ActivityType] = set()
    for part in parts:
        if not part.camera.activity_types:
            activities = set()
            break
        activities.update(part.camera.activity_types)
    language = next((part.camera.language for part in parts if part.camera.language), "")
    ordered = tuple(activity for activity in ActivityType if activity in activities)
    return CameraContext(name=", ".join(names), language=language, activity_types=ordered)


def incident_notes(household_notes: str, parts: Sequence[IncidentPart]) -> str:
    """The delimited section with the owner's words for the home and each camera ("" when
    there are none)."""
    lines: list[str] = []
    if hub := clean_notes(household_notes):
        lines.append(f"For the whole home: {hub}")
    seen: set[str] = set()
    for part in parts:
        name = part.camera.name
        if name in seen:
            continue
        seen.add(name)
        if notes := clean_notes(part.camera.context_text):
            lines.append(f"For the camera {name}: {notes}")
    if not lines:
        return ""
    return "\n".join([NOTES_HEADING, NOTES_START, *lines, NOTES_END])


def build_incident_text(
    parts: Sequence[IncidentPart],
    frames: Sequence[IncidentFrame],
    *,
    local_start: datetime,
    household_notes: str = "",
) -> str:
    """The text that introduces the incident's frames."""
    names = incident_camera(parts).name
    cameras = len({part.camera.name for part in parts})
    lines = [f"Incident seen by {cameras} cameras of one area: {names}."]
    if notes := incident_notes(household_notes, parts):
        lines.append(notes)
    lines.append(
        f"Incident started: {local_start:%A %H:%M} local time ({time_of_day(local_start)}), "
        f"{incident_duration(parts):.1f} s long."
    )
    for part in parts:
        begin = format_time_label(part.offset_s)
        lines.append(
            f"Clip of {part.camera.name}, from {begin}, {part.prepared.duration_s:.1f} s long. "
            + describe_filter(part.incident.filter_result)
        )
    labels = ", ".join(frame.label for frame in frames)
    lines.append(
        f"{len(frames)} frames follow in time order, each labelled by its camera and its time "
        f"from the start of the incident: {labels}. Use only these times for the entity "
        "timeline; one person or vehicle seen by several cameras is one entity."
    )
    return "\n".join(lines)


def build_incident_content(
    parts: Sequence[IncidentPart],
    *,
    local_start: datetime,
    image_detail: str,
    household_notes: str = "",
) -> list[ChatCompletionContentPartParam]:
    """The user message: the incident text, then each frame's label followed by its image."""
    frames = incident_frames(parts)
    text: ChatCompletionContentPartTextParam = {
        "type": "text",
        "text": build_incident_text(
            parts, frames, local_start=local_start, household_notes=household_notes
        ),
    }
    return [text, *image_parts([(placed.label, placed.frame) for placed in frames], image_detail)]


def preview_incident_prompt(
    *,
    cameras: Sequence[CameraContext],
    language: str,
    household_notes: str,
    include_schema: bool,
    max_frames: int,
    local_start: datetime,
    duration_s: float = 10.0,
) -> PromptText:
    """What the analyzer sends for a sample incident of `cameras` (each camera's clip starts
    half a clip after the previous one's; no object detector ran; the frame budget shared),
    built by the analyzer's own builders, each image shown as "[image]"."""
    parts: list[IncidentPart] = []
    nothing = FilterResult((), {}, (), 0, "", 0, passthrough=True)
    for index, (camera, share) in enumerate(
        zip(cameras, frame_shares(len(cameras), max_frames), strict=True)
    ):
        offset = index * duration_s / 2
        frames = tuple(
            EncodedFrame(round(duration_s * i / share, 1), b"", 0, 0) for i in range(share)
        )
        begin = local_start + timedelta(seconds=offset)
        clip = Clip(
            clip_id=f"preview-{index}",
            camera_id=f"preview-{index}",
            camera_name=camera.name,
            source_type="preview",
            path=Path(),
            start_ts=begin,
            end_ts=begin + timedelta(seconds=duration_s),
        )
        prepared = PreparedFrames(frames, duration_s, 0, 0, 0, 0)
        parts.append(IncidentPart(camera, offset, IncidentClip(clip, nothing), prepared))
    content = build_incident_content(
        parts, local_start=local_start, image_detail="auto", household_notes=household_notes
    )
    user = preview_text(content)
    system = build_system_prompt(
        language=language,
        include_schema=include_schema,
        camera=incident_camera(parts),
        incident=True,
    )
    return PromptText(system=system, user=user)
