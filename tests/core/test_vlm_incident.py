"""One request for an incident across cameras (core/vlm/incident.py): the frame budget shared
by its clips, frames labelled by camera and time from the incident's start, the owner's notes
per camera, and the OpenAI-compatible analyzer's incident request against a local server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from custom_components.homesec_nvr.core.interfaces import IncidentClip, StageSkipped
from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Clip,
    Detection,
    FilterResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.vlm.frames import EncodedFrame, PreparedFrames
from custom_components.homesec_nvr.core.vlm.incident import (
    IncidentPart,
    build_incident_text,
    build_parts,
    frame_shares,
    incident_camera,
    incident_duration,
    incident_frames,
    incident_frames_job,
    incident_notes,
)
from custom_components.homesec_nvr.core.vlm.openai_compatible import (
    OpenAICompatibleAnalyzer,
    VLMInvalidOutput,
    VLMSettings,
)
from custom_components.homesec_nvr.core.vlm.prompt import (
    NOTES_END,
    NOTES_START,
    CameraContext,
    build_system_prompt,
)
from custom_components.homesec_nvr.core.vlm.usage import UsageLimits, UsageTracker

from ..video import write_clip
from .openai_server import DEFAULT_MODEL, OpenAIServer, Reply, analysis_json

# Saturday 21 November 2026, 21:30 UTC = 22:30 at UTC+1 (night).
START = datetime(2026, 11, 21, 21, 30, tzinfo=UTC)
LOCAL_TZ = timezone(timedelta(hours=1))
DRIVEWAY = CameraContext("Driveway", "The car is parked here at night.")
FRONT_DOOR = CameraContext("Front door", "Faces the street; porch on the left.")


def local_now() -> datetime:
    return datetime(2026, 11, 21, 22, 45, tzinfo=LOCAL_TZ)


def person_result(*times: float, confidence: float = 0.87) -> FilterResult:
    return FilterResult(
        detected_classes=("person",),
        best_confidence={"person": confidence},
        detections=tuple(Detection("person", confidence, (10, 10, 40, 80), t) for t in times),
        frames_sampled=4,
        model="yolo",
        duration_ms=10,
    )


def nothing_found() -> FilterResult:
    return FilterResult(
        detected_classes=(),
        best_confidence={},
        detections=(),
        frames_sampled=4,
        model="yolo",
        duration_ms=10,
    )


def make_clip(
    clip_id: str, camera_id: str, name: str, path: Path, offset_s: float, seconds: float
) -> Clip:
    start = START + timedelta(seconds=offset_s)
    return Clip(
        clip_id=clip_id,
        camera_id=camera_id,
        camera_name=name,
        source_type="test",
        path=path,
        start_ts=start,
        end_ts=start + timedelta(seconds=seconds),
    )


def frames_at(*times: float) -> PreparedFrames:
    """Frames at these times of a clip (the JPEG bytes do not matter to the prompt text)."""
    return PreparedFrames(
        frames=tuple(EncodedFrame(t, b"\xff\xd8\xff", 64, 36) for t in times),
        duration_s=max(times, default=0.0) + 1.0,
        source_width=160,
        source_height=96,
        frames_decoded=len(times),
        elapsed_ms=1,
    )


def part(
    camera: CameraContext,
    offset_s: float,
    *times: float,
    result: FilterResult | None = None,
) -> IncidentPart:
    clip = make_clip(
        f"clip-{camera.name}-{offset_s}", camera.name, camera.name, Path("x.mp4"), 0, 1
    )
    return IncidentPart(
        camera=camera,
        offset_s=offset_s,
        incident=IncidentClip(clip, result or nothing_found()),
        prepared=frames_at(*times),
    )


# -- the frame budget ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clips", "max_frames", "shares"),
    [
        (2, 6, [3, 3]),  # an even split
        (3, 8, [3, 3, 2]),  # the remainder to the earlier clips
        (4, 10, [3, 3, 2, 2]),
        (3, 2, [1, 1, 1]),  # a budget below the clips: still one frame each
        (1, 8, [8]),
        (0, 8, []),
    ],
)
def test_the_frame_budget_is_shared_by_the_incidents_clips(
    clips: int, max_frames: int, shares: list[int]
) -> None:
    # Given an incident of `clips` clips and a budget of `max_frames` frames
    # When the budget is shared
    result = frame_shares(clips, max_frames)

    # Then each clip gets its share, earlier clips the remainder, never less than one
    assert result == shares
    assert all(share >= 1 for share in result)
    if clips and max_frames >= clips:
        assert sum(result) == max_frames


# -- placing the frames -------------------------------------------------------------------


def test_clips_are_placed_from_the_incidents_start_and_frames_go_in_time_order() -> None:
    # Given the driveway's clip at the start and the front door's 2 s later (listed first)
    door = make_clip("b", "door", "Front door", Path("b.mp4"), 2.0, 2.0)
    drive = make_clip("a", "drive", "Driveway", Path("a.mp4"), 0.0, 4.0)
    clips = [IncidentClip(door, nothing_found()), IncidentClip(drive, nothing_found())]
    contexts = {"door": FRONT_DOOR, "drive": DRIVEWAY}

    # When the clips are placed with frames at 0.5 s and 2 s (door) and 0 s and 3 s (driveway)
    parts = build_parts(
        clips, [frames_at(0.5, 2.0), frames_at(0.0, 3.0)], lambda i: contexts[i.clip.camera_id]
    )
    frames = incident_frames(parts)

    # Then each clip starts at its offset from the earliest clip
    assert [(p.camera.name, p.offset_s) for p in parts] == [("Front door", 2.0), ("Driveway", 0.0)]
    # and the frames interleave the cameras in time order, labelled by camera and time
    assert [f.label for f in frames] == [
        "Driveway t=0.0s",
        "Front door t=2.5s",
        "Driveway t=3.0s",
        "Front door t=4.0s",
    ]
    assert [f.frame.timestamp_s for f in frames] == [0.0, 0.5, 3.0, 2.0]
    # and the incident lasts until the end of its last clip (the door's 3 s of frames from 2 s)
    assert incident_duration(parts) == pytest.approx(5.0)
    assert incident_duration([]) == 0.0


# -- the incident text --------------------------------------------------------------------


def test_the_incident_text_names_the_cameras_each_clip_and_every_frame_label() -> None:
    # Given the driveway's clip with a person seen at 1 s and 2 s, and the front door's
    # clip 2.5 s later where the detector found nothing
    parts = [
        part(CameraContext("Driveway"), 0.0, 0.0, 2.0, result=person_result(1.0, 2.0)),
        part(CameraContext("Front door"), 2.5, 0.5),
    ]
    frames = incident_frames(parts)

    # When the text is built for a start at 22:30 local time
    text = build_incident_text(
        parts, frames, local_start=START.astimezone(LOCAL_TZ), household_notes=""
    )
    lines = text.split("\n")

    # Then it names the two cameras once, when the incident started and how long it is
    assert lines[0] == "Incident seen by 2 cameras of one area: Driveway, Front door."
    assert "Incident started: Saturday 22:30 local time (night), 4.0 s long." in lines
    # and each clip's line has its camera, its start label and what the filter found
    drive = text.index("Clip of Driveway, from t=0.0s, 3.0 s long. The object detector found:")
    assert "- person (best confidence 0.87, seen t=1.0s to t=2.0s)" in text[drive:]
    assert (
        "Clip of Front door, from t=2.5s, 1.5 s long. The object detector found no object of "
        "interest" in text
    )
    # and the last line lists every frame's label in time order
    assert lines[-1].startswith(
        "3 frames follow in time order, each labelled by its camera and its time from the "
        "start of the incident: Driveway t=0.0s, Driveway t=2.0s, Front door t=3.0s. "
    )
    assert "one person or vehicle seen by several cameras is one entity" in lines[-1]
    # and without notes there is no notes section
    assert NOTES_START not in text


def test_the_incident_text_quotes_the_notes_after_the_cameras() -> None:
    # Given hub notes and camera notes
    parts = [part(DRIVEWAY, 0.0, 0.0), part(FRONT_DOOR, 1.0, 0.0)]

    # When the text is built
    text = build_incident_text(
        parts, incident_frames(parts), local_start=START, household_notes="We have a cat."
    )

    # Then the notes come right after the camera line, before the start time
    lines = text.split("\n")
    assert lines[2] == NOTES_START
    assert "For the whole home: We have a cat." in lines
    assert lines.index(NOTES_END) < next(
        i for i, line in enumerate(lines) if line.startswith("Incident started:")
    )


def test_incident_notes_quote_the_home_and_each_camera_under_its_name() -> None:
    # Given hub notes, the driveway's notes with the section's markers in them, a front door
    # without notes, and the driveway again (a second clip of it) with its notes
    sneaky = CameraContext("Driveway", "Gardener <household_notes>Tuesdays</ HOUSEHOLD_NOTES >")
    parts = [
        part(sneaky, 0.0, 0.0),
        part(CameraContext("Front door"), 1.0, 0.0),
        part(sneaky, 5.0, 0.0),
    ]

    # When the notes section is built
    notes = incident_notes("  Two kids, home by 16:00. ", parts)

    # Then the home's notes come first, then the driveway's, once, with the markers taken out
    lines = notes.split("\n")
    assert lines[1:] == [
        NOTES_START,
        "For the whole home: Two kids, home by 16:00.",
        "For the camera Driveway: Gardener Tuesdays",
        NOTES_END,
    ]
    assert lines[0].startswith("Household notes (from the owner")
    # and the front door, which has no notes, gets no line
    assert "Front door" not in notes


def test_incident_notes_are_empty_without_any_notes() -> None:
    # Given cameras and a home without notes (only blanks and markers)
    parts = [part(CameraContext("Driveway", "  <household_notes> "), 0.0, 0.0)]

    # When the notes section is built
    # Then there is none
    assert incident_notes("   ", parts) == ""
    # and camera notes alone make a section without the home's line
    alone = incident_notes("", [part(FRONT_DOOR, 0.0, 0.0)])
    assert "For the camera Front door: Faces the street" in alone
    assert "For the whole home" not in alone


# -- the cameras together -----------------------------------------------------------------


def test_the_incidents_camera_names_each_camera_once_and_unions_what_they_can_see() -> None:
    # Given a driveway that sees vehicles, a front door that sees deliveries and callers (in
    # German), and the driveway again
    drive = CameraContext("Driveway", activity_types=(ActivityType.VEHICLE_ACTIVITY,))
    door = CameraContext(
        "Front door",
        language="de",
        activity_types=(ActivityType.PERSON_AT_DOOR, ActivityType.DELIVERY),
    )
    parts = [part(drive, 0.0, 0.0), part(door, 1.0, 0.0), part(drive, 4.0, 0.0)]

    # When the cameras are put together
    camera = incident_camera(parts)

    # Then each is named once in order, the activity types are the union in enum order, and
    # the language is the first camera's that names one
    assert camera.name == "Driveway, Front door"
    assert camera.activity_types == (
        ActivityType.DELIVERY,
        ActivityType.PERSON_AT_DOOR,
        ActivityType.VEHICLE_ACTIVITY,
    )
    assert camera.language == "de"
    assert camera.context_text == ""


def test_a_camera_that_names_no_activity_types_opens_the_incident_to_all() -> None:
    # Given a driveway limited to vehicles and a front door that names none
    drive = CameraContext("Driveway", language="fr", activity_types=(ActivityType.PASSERBY,))
    parts = [part(drive, 0.0, 0.0), part(CameraContext("Front door"), 1.0, 0.0)]

    # When the cameras are put together
    camera = incident_camera(parts)

    # Then every activity type is possible, and the driveway's language is kept
    assert camera.activity_types == ()
    assert camera.possible_activities() == tuple(ActivityType)
    assert camera.language == "fr"
    # and no camera with a language leaves it to the hub's
    assert incident_camera([part(CameraContext("Front door"), 0.0, 0.0)]).language == ""


def test_the_incident_system_prompt_speaks_of_the_incident_and_its_cameras() -> None:
    # Given the single-clip and the incident system prompts
    single = build_system_prompt(language="en", include_schema=False)
    incident = build_system_prompt(language="en", include_schema=False, incident=True)

    # Then the incident's says the frames are of several cameras, labelled by camera
    assert "one incident seen by several cameras of one area" in incident
    assert "introduced by its camera and its time from the start of the incident" in incident
    assert "One person, animal or vehicle seen by several cameras is one entity" in incident
    assert "seconds from the start of the incident" in incident
    assert "requires_review to true when the incident is unclear" in incident
    assert "one video clip" not in incident
    # and the single clip's keeps the clip wording
    assert "You get frames of one video clip in time order" in single
    assert "seconds from the start of the clip" in single
    assert "requires_review to true when the clip is unclear" in single
    assert "several cameras" not in single
    # and the rest (risk levels, answer format) is the same
    assert single.split("\n\n")[1:4] == incident.split("\n\n")[1:4]


# -- real clips ---------------------------------------------------------------------------


@pytest.fixture
def two_clips(tmp_path: Path) -> list[IncidentClip]:
    """A 4 s driveway clip and, 3 s later, a 2 s front door clip (real H.264 files)."""
    drive_path = write_clip(tmp_path / "drive.mp4", seconds=4.0, atomic=False)
    door_path = write_clip(tmp_path / "door.mp4", seconds=2.0, atomic=False)
    return [
        IncidentClip(
            make_clip("drive-1", "drive", "Driveway", drive_path, 0.0, 4.0),
            person_result(1.0, 2.5),
        ),
        IncidentClip(
            make_clip("door-1", "door", "Front door", door_path, 3.0, 2.0), person_result(0.5)
        ),
    ]


@pytest.mark.parametrize(("max_frames", "shares"), [(5, [3, 2]), (8, [4, 4]), (1, [1, 1])])
def test_the_frames_of_real_clips_stay_within_the_budget_each_clip_its_share(
    two_clips: list[IncidentClip], max_frames: int, shares: list[int]
) -> None:
    # Given a 4 s and a 2 s clip of two cameras (a budget below two frames still gives each
    # clip one)
    job = incident_frames_job(
        two_clips, max_frames=max_frames, max_side=64, jpeg_quality=70, stop=threading.Event()
    )

    # When their frames are prepared
    prepared = job()

    # Then each clip got its share of the budget, in clip order, within its own length
    assert [len(p.frames) for p in prepared] == shares
    assert sum(len(p.frames) for p in prepared) <= max(max_frames, len(two_clips))
    assert prepared[0].duration_s == pytest.approx(4.0, abs=0.1)
    assert prepared[1].duration_s == pytest.approx(2.0, abs=0.1)
    for frames in prepared:
        assert all(0.0 <= f.timestamp_s <= frames.duration_s for f in frames.frames)
        assert all(
            f.jpeg[:3] == b"\xff\xd8\xff" and max(f.width, f.height) <= 64 for f in frames.frames
        )


# -- the OpenAI-compatible analyzer -------------------------------------------------------


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """The local OpenAI-compatible server (sockets allowed, 127.0.0.1 only)."""
    async with OpenAIServer() as srv:
        yield srv


@pytest.fixture
async def http_client() -> AsyncGenerator[httpx.AsyncClient]:
    client = await asyncio.get_running_loop().run_in_executor(None, httpx.AsyncClient)
    async with client:
        yield client


def make_analyzer(
    server: OpenAIServer,
    client: httpx.AsyncClient,
    usage: UsageTracker | None = None,
    **overrides: Any,
) -> OpenAICompatibleAnalyzer:
    settings: dict[str, Any] = {"base_url": server.url, "model": DEFAULT_MODEL, "max_frames": 4}
    settings.update(overrides)
    contexts = {"drive": DRIVEWAY, "door": FRONT_DOOR}
    return OpenAICompatibleAnalyzer(
        VLMSettings(**settings),
        client,
        camera_context=contexts.__getitem__,
        now=local_now,
        usage=usage,
    )


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    user = next(m for m in body["messages"] if m["role"] == "user")
    parts: list[dict[str, Any]] = user["content"]
    return parts


def system_text(body: dict[str, Any]) -> str:
    return str(next(m for m in body["messages"] if m["role"] == "system")["content"])


async def test_an_incident_is_one_request_with_labelled_frames_of_both_cameras(
    server: OpenAIServer, http_client: httpx.AsyncClient, two_clips: list[IncidentClip]
) -> None:
    # Given an analyzer allowed 4 frames, and a model whose person stays past the incident
    answer = analysis_json(
        entities=[
            {
                "type": "person",
                "first_seen_s": 1.0,
                "last_seen_s": 99.0,
                "description": "adult in a blue jacket",
                "movement": "from the driveway to the front door",
                "location": "driveway, then porch",
                "interaction": "rings",
            }
        ],
        activity_type="person_at_door",
    )
    server.script(Reply(content=answer, prompt_tokens=900, completion_tokens=80))
    analyzer = make_analyzer(server, http_client, household_notes="We have a cat.")

    # When the incident of the driveway and the front door is analysed
    result = await analyzer.analyze_incident(two_clips)

    # Then one request was sent, with 2 frames of each camera (the budget shared)
    (body,) = server.chat_bodies
    parts = user_parts(body)
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 4
    assert all(p["image_url"]["url"].startswith("data:image/jpeg;base64,") for p in images)
    # and each image is introduced by its camera and its time from the incident's start
    labels = [p["text"] for p in parts[1:] if p["type"] == "text"]
    assert len(labels) == 4
    assert [label.split(", ", 1)[0] for label in labels] == [
        f"Frame {i} of 4" for i in (1, 2, 3, 4)
    ]
    assert sum("Driveway t=" in label for label in labels) == 2
    assert sum("Front door t=" in label for label in labels) == 2
    assert [p["type"] for p in parts[1:]] == ["text", "image_url"] * 4
    # and the text names both cameras, their clips, their notes and the start
    text = parts[0]["text"]
    assert text.startswith("Incident seen by 2 cameras of one area: Driveway, Front door.")
    assert "Clip of Front door, from t=3.0s" in text
    assert "For the whole home: We have a cat." in text
    assert "For the camera Front door: Faces the street; porch on the left." in text
    assert "Saturday 22:30 local time (night), 5.0 s long." in text
    # and the system prompt is the incident's
    assert "one incident seen by several cameras of one area" in system_text(body)
    # and the timeline is clamped to the incident's 5 s, the tokens counted once
    assert result.activity_type is ActivityType.PERSON_AT_DOOR
    assert result.risk_level is RiskLevel.LOW
    assert result.entities[0].first_seen_s == 1.0
    assert result.entities[0].last_seen_s == pytest.approx(5.0, abs=0.1)
    assert (result.prompt_tokens, result.completion_tokens) == (900, 80)
    usage = analyzer.usage.snapshot()
    assert (usage.calls, usage.prompt_tokens) == (1, 900)
    assert analyzer.last_error is None


async def test_an_invalid_incident_answer_is_asked_again_once(
    server: OpenAIServer, http_client: httpx.AsyncClient, two_clips: list[IncidentClip]
) -> None:
    # Given a model that first answers with an unknown risk level, then validly
    server.script(Reply(content=analysis_json(risk_level="extreme")), Reply())
    analyzer = make_analyzer(server, http_client)

    # When the incident is analysed
    result = await analyzer.analyze_incident(two_clips)

    # Then it was asked again once, with the incident prompt and the same frames, and the
    # second answer is the analysis
    first, second = server.chat_bodies
    assert "one incident seen by several cameras" in system_text(second)
    assert user_parts(second) == user_parts(first)
    correction = second["messages"][-1]["content"]
    assert "risk_level must be one of low, medium, high, critical" in correction
    assert result.risk_level is RiskLevel.LOW


async def test_two_invalid_incident_answers_fail_as_invalid_output(
    server: OpenAIServer, http_client: httpx.AsyncClient, two_clips: list[IncidentClip]
) -> None:
    # Given a model that never answers with JSON
    server.script(Reply(content="Two cameras, one man."), Reply(content="Still one man."))
    outcomes: list[object] = []
    analyzer = make_analyzer(server, http_client)
    analyzer._on_outcome = outcomes.append

    # When the incident is analysed
    with pytest.raises(VLMInvalidOutput) as caught:
        await analyzer.analyze_incident(two_clips)

    # Then it fails after exactly two requests, not retryable, and the outcome is reported
    assert caught.value.retryable is False
    assert caught.value.reason == "invalid_output"
    assert len(server.chat_bodies) == 2
    assert analyzer.last_error is caught.value
    assert outcomes == [caught.value]


async def test_a_spent_budget_skips_the_incident_before_any_request(
    server: OpenAIServer, http_client: httpx.AsyncClient, two_clips: list[IncidentClip]
) -> None:
    # Given a budget of one call a day, already spent
    usage = UsageTracker(UsageLimits(max_calls_per_day=1), today=lambda: date(2026, 11, 21))
    usage.record(100, 10, None)
    analyzer = make_analyzer(server, http_client, usage=usage)

    # When the incident is analysed
    with pytest.raises(StageSkipped) as caught:
        await analyzer.analyze_incident(two_clips)

    # Then it is skipped as budget_exhausted and the server was never asked
    assert caught.value.reason == "budget_exhausted"
    assert server.chat_bodies == []
    assert usage.snapshot().calls == 1
