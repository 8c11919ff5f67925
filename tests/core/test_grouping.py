"""Grouping a camera's clips into events by the time between them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from custom_components.homesec_nvr.core.grouping import EventGrouper
from custom_components.homesec_nvr.core.models import EVENT_KEY, Clip

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def clip(clip_id: str, start_s: float, length_s: float = 20.0, camera: str = "cam") -> Clip:
    return Clip(
        clip_id=clip_id,
        camera_id=camera,
        camera_name=camera,
        source_type="local_folder",
        path=Path(f"/x/{clip_id}.mp4"),
        start_ts=T0 + timedelta(seconds=start_s),
        end_ts=T0 + timedelta(seconds=start_s + length_s),
        metadata={},
    )


def test_clips_that_follow_within_the_window_join_the_first_clips_event() -> None:
    # Given a 30 s group window
    grouper = EventGrouper(lambda _camera: 30.0)

    # When a visit comes as three 20 s files, then a clip an hour later
    keys = [
        grouper.assign(clip("a", 0)),
        grouper.assign(clip("b", 25)),
        grouper.assign(clip("c", 50)),
        grouper.assign(clip("d", 3600)),
    ]

    # Then the first is its own event, the next two join it, the late one starts a new one
    assert keys == [None, "a", "a", None]


def test_cameras_group_apart_and_a_zero_window_groups_nothing() -> None:
    # Given a window for one camera only
    grouper = EventGrouper(lambda camera: 30.0 if camera == "door" else 0.0)

    # When both cameras send clips close together
    door = [grouper.assign(clip(f"d{i}", i * 10, camera="door")) for i in range(2)]
    yard = [grouper.assign(clip(f"y{i}", i * 10, camera="yard")) for i in range(2)]

    # Then only the door camera's second clip joins an event, and only its own camera's
    assert door == [None, "d0"]
    assert yard == [None, None]


def test_a_clip_with_its_own_event_keeps_it_and_its_followers_join_it() -> None:
    # Given a window and a clip whose source named its event (an RTSP motion event)
    grouper = EventGrouper(lambda _camera: 30.0)
    named = replace(clip("r1", 0), metadata={EVENT_KEY: "motion-1"})

    # When it is assigned, then a clip without an event follows closely
    first = grouper.assign(named)
    follower = clip("r2", 25)
    second = grouper.assign(follower)

    # Then the source's event stays, and the follower carries it in its metadata
    assert first == "motion-1"
    assert second == "motion-1"
    assert follower.metadata[EVENT_KEY] == "motion-1"


def test_a_late_arriving_older_clip_does_not_move_the_cameras_last_clip_back() -> None:
    # Given a window and two clips, the second one handed over first (a catch-up)
    grouper = EventGrouper(lambda _camera: 30.0)
    grouper.assign(clip("new", 100))
    grouper.assign(clip("old", 0))

    # When a clip follows the newer one
    key = grouper.assign(clip("next", 125))

    # Then it joins the newer clip's event
    assert key == "new"
