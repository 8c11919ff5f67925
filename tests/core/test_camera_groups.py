"""Clips of a camera group (an area) grouped into one incident across cameras."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from custom_components.homesec_nvr.core.camera_groups import parse_camera_groups
from custom_components.homesec_nvr.core.grouping import (
    INCIDENT_CAMERA_IDS,
    INCIDENT_CAMERAS,
    SOURCE_EVENT_KEY,
    EventGrouper,
)
from custom_components.homesec_nvr.core.incidents import group_incidents
from custom_components.homesec_nvr.core.models import EVENT_KEY, Clip, ClipState, ClipStatus

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CAMERAS = {"drive": "Driveway", "door": "Front door", "yard": "Back yard"}


def clip(clip_id: str, camera: str, start_s: float, length_s: float = 20.0) -> Clip:
    return Clip(
        clip_id=clip_id,
        camera_id=camera,
        camera_name=CAMERAS[camera],
        source_type="local_folder",
        path=Path(f"/x/{clip_id}.mp4"),
        start_ts=T0 + timedelta(seconds=start_s),
        end_ts=T0 + timedelta(seconds=start_s + length_s),
        metadata={},
    )


def front_grouper(gap_s: float = 60.0, window_s: float = 0.0) -> EventGrouper:
    groups = parse_camera_groups("Front: Driveway, door", CAMERAS)
    return EventGrouper(lambda _c: window_s, group_of=groups.group_of.get, gap_s=lambda: gap_s)


def test_the_option_text_names_cameras_by_name_or_id_and_reports_unknown_ones() -> None:
    # Given a text with two groups, odd spacing and case, a comment and a missing camera
    text = "Front:  driveway ,FRONT DOOR\n# note\n\nBack: yard, Shed\n"

    # When it is read against the hub's cameras
    groups = parse_camera_groups(text, CAMERAS)

    # Then names and ids both work, and the missing camera is reported
    assert dict(groups.group_of) == {"drive": "Front", "door": "Front", "yard": "Back"}
    assert groups.unknown == ("Shed",)


def test_clips_of_two_grouped_cameras_within_the_gap_are_one_incident() -> None:
    # Given the driveway and the front door in one group, a 60 s gap
    grouper = front_grouper()

    # When the driveway records a person, the front door 30 s after it ended, then the
    # driveway again long after
    first, second, late = clip("d1", "drive", 0), clip("f1", "door", 50), clip("d2", "drive", 900)
    keys = [grouper.assign(first), grouper.assign(second), grouper.assign(late)]

    # Then the first two share the first clip's incident, with both cameras; the late one
    # starts its own
    assert keys == ["d1", "d1", "d2"]
    assert second.metadata[EVENT_KEY] == "d1"
    assert second.metadata[INCIDENT_CAMERAS] == ["Driveway", "Front door"]
    assert second.metadata[INCIDENT_CAMERA_IDS] == ["drive", "door"]
    assert first.metadata[INCIDENT_CAMERAS] == ["Driveway"]
    assert late.metadata[INCIDENT_CAMERAS] == ["Driveway"]


def test_an_overlapping_clip_joins_even_when_it_is_handed_over_first() -> None:
    # Given a long driveway clip (0-120 s) and a short front-door clip inside it, the short
    # one handed over first (it ended first)
    grouper = front_grouper(gap_s=10.0)
    door, drive = clip("f1", "door", 30, 10), clip("d1", "drive", 0, 120)

    # When both are assigned
    keys = [grouper.assign(door), grouper.assign(drive)]

    # Then they are one incident, the door's
    assert keys == ["f1", "f1"]
    assert drive.metadata[INCIDENT_CAMERAS] == ["Front door", "Driveway"]


def test_a_camera_outside_the_group_keeps_its_own_events() -> None:
    # Given the front group and a back-yard camera in no group, with no group window
    grouper = front_grouper()

    # When the yard records while the front incident goes on
    grouper.assign(clip("d1", "drive", 0))
    yard = clip("y1", "yard", 10)
    key = grouper.assign(yard)

    # Then the yard clip is its own event, untouched
    assert key is None
    assert EVENT_KEY not in yard.metadata
    assert INCIDENT_CAMERAS not in yard.metadata


def test_a_source_named_event_joins_the_incident_and_keeps_its_own_key() -> None:
    # Given the front group; the driveway clip is of a Frigate event, the door's of another
    grouper = front_grouper()
    drive = replace(clip("d1", "drive", 0), metadata={EVENT_KEY: "frigate-1"})
    door = replace(clip("f1", "door", 25), metadata={EVENT_KEY: "frigate-2"})

    # When both are assigned
    keys = [grouper.assign(drive), grouper.assign(door)]

    # Then the incident is the first event's, and the door clip remembers its own
    assert keys == ["frigate-1", "frigate-1"]
    assert door.metadata[EVENT_KEY] == "frigate-1"
    assert door.metadata[SOURCE_EVENT_KEY] == "frigate-2"
    assert SOURCE_EVENT_KEY not in drive.metadata


def test_a_zero_gap_joins_only_overlapping_clips() -> None:
    # Given the front group with no gap
    grouper = front_grouper(gap_s=0.0)

    # When the door's clip overlaps the driveway's, and a later one follows 5 s after
    keys = [
        grouper.assign(clip("d1", "drive", 0)),
        grouper.assign(clip("f1", "door", 15)),
        grouper.assign(clip("f2", "door", 40)),
    ]

    # Then only the overlapping clip joins
    assert keys == ["d1", "d1", "f2"]


def test_a_camera_groups_incident_is_one_calendar_incident_across_its_cameras() -> None:
    # Given two finished clips of one front-group incident, and a back-yard clip
    grouper = front_grouper()
    clips = [clip("d1", "drive", 0), clip("f1", "door", 30), clip("y1", "yard", 35)]
    for c in clips:
        grouper.assign(c)
    states = [finished(c) for c in clips]

    # When they are grouped for the calendar
    incidents = group_incidents(states)

    # Then the front clips are one incident, at both cameras; the yard's is its own
    assert [[c.clip_id for c in i.clips] for i in incidents] == [["d1", "f1"], ["y1"]]
    assert incidents[0].camera_name == "Driveway, Front door"
    assert incidents[1].camera_name == "Back yard"


def finished(c: Clip) -> ClipState:
    return ClipState(
        clip_id=c.clip_id,
        camera_id=c.camera_id,
        camera_name=c.camera_name,
        source_type=c.source_type,
        source_path=str(c.path),
        status=ClipStatus.DONE,
        start_ts=c.start_ts,
        end_ts=c.end_ts,
        created_at=c.start_ts,
        updated_at=c.start_ts,
        metadata=dict(c.metadata),
    )
