"""Which clips of an incident across cameras wait to be analysed together
(core/incident_batches.py), on a plain asyncio loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from custom_components.homesec_nvr.core.incident_batches import (
    RECENT_INCIDENTS,
    IncidentBatch,
    IncidentBatches,
    IncidentSettings,
)
from custom_components.homesec_nvr.core.vlm.incident import MAX_INCIDENT_CLIPS

GROUPS = {
    "drive": "Front",
    "door": "Front",
    "porch": "Front",
    "garage": "Garage",
}


class Recorder:
    """The batches' on_close and task factory, recording what they are given."""

    def __init__(self) -> None:
        self.closed: list[IncidentBatch] = []
        self.tasks: list[asyncio.Task[None]] = []

    def on_close(self, batch: IncidentBatch) -> None:
        self.closed.append(batch)

    def create_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.append(task)
        return task


def make_batches(
    recorder: Recorder, wait_s: float = 60.0, groups: dict[str, str] | None = None
) -> IncidentBatches:
    groups = GROUPS if groups is None else groups
    settings = IncidentSettings(
        group_of=groups.get,
        group_cameras=lambda group: [cid for cid, name in groups.items() if name == group],
        wait_s=lambda: wait_s,
    )
    return IncidentBatches(settings, recorder.on_close, recorder.create_task)


async def settle() -> None:
    """Let callbacks scheduled with call_soon (and cancelled tasks) run."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_only_a_camera_of_a_group_of_several_waits_and_only_with_a_wait() -> None:
    # Given the front group of three cameras, a garage alone in its group, a camera in none
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=30)

    # Then a camera of the front group waits, the others do not
    assert batches.waits("drive") is True
    assert batches.waits("garage") is False  # a group of one camera
    assert batches.waits("street") is False  # in no group
    # and with a wait of 0 (or below) nothing waits
    assert make_batches(recorder, wait_s=0).waits("drive") is False
    assert make_batches(recorder, wait_s=-1).waits("drive") is False
    assert recorder.tasks == []


async def test_a_batch_closes_soon_once_every_camera_of_the_group_is_in() -> None:
    # Given the front group of three cameras and a long wait
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=60)

    # When the driveway, the front door and the porch each park a clip of the incident
    batches.park("a", "drive", "incident-1")
    batches.park("b", "door", "incident-1")
    await settle()
    assert recorder.closed == []  # a camera is still missing
    batches.park("c", "porch", "incident-1")

    # Then it does not close inside park (the clip is still its worker's) ...
    assert recorder.closed == []
    assert batches.waiting() == 3
    # ... but right after, once, with the clips in the order they came
    await settle()
    (batch,) = recorder.closed
    assert batch.key == "incident-1"
    assert batch.group == "Front"
    assert batch.clip_ids == ["a", "b", "c"]
    assert batch.cameras == {"drive", "door", "porch"}
    assert batches.waiting() == 0
    # and its timer is gone: nothing closes it a second time
    assert batch.timer is None
    (timer,) = recorder.tasks
    assert timer.cancelled()


async def test_a_batch_with_one_camera_closes_after_the_wait() -> None:
    # Given a wait of 50 ms
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=0.05)
    loop = asyncio.get_running_loop()

    # When only the driveway parks a clip
    begin = loop.time()
    batches.park("a", "drive", "incident-1")
    await settle()

    # Then it waits ...
    assert recorder.closed == []
    assert batches.waiting() == 1
    # ... and closes alone once the wait is over
    for _ in range(100):
        if recorder.closed:
            break
        await asyncio.sleep(0.01)
    closed_after = loop.time() - begin
    (batch,) = recorder.closed
    assert batch.clip_ids == ["a"]
    assert closed_after >= 0.04
    assert batches.waiting() == 0
    assert all(task.done() for task in recorder.tasks)


async def test_a_batch_closes_at_the_most_clips_one_request_holds() -> None:
    # Given a group of six cameras, so the group is never complete with fewer
    groups = {f"cam{index}": "Yard" for index in range(6)}
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=60, groups=groups)

    # When clips of the incident keep coming from two of its cameras
    for index in range(MAX_INCIDENT_CLIPS - 1):
        batches.park(f"clip-{index}", f"cam{index % 2}", "incident-1")
    await settle()
    assert recorder.closed == []
    batches.park("last", "cam0", "incident-1")

    # Then the batch closes with MAX_INCIDENT_CLIPS clips
    await settle()
    (batch,) = recorder.closed
    assert len(batch.clip_ids) == MAX_INCIDENT_CLIPS
    assert batch.clip_ids[-1] == "last"
    assert batch.cameras == {"cam0", "cam1"}


async def test_a_clip_of_the_incident_after_its_batch_closed_opens_the_next() -> None:
    # Given a batch of the front group's incident that closed after the wait with only the
    # driveway in it
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=0.05)
    batches.park("a", "drive", "incident-1")
    for _ in range(100):
        if recorder.closed:
            break
        await asyncio.sleep(0.01)
    assert len(recorder.closed) == 1

    # When a front-door clip of the same incident comes
    batches.park("b", "door", "incident-1")
    await settle()

    # Then it is in a new batch of its own, which waits for the porch (not in the incident
    # yet) and closes on its own after the wait
    assert len(recorder.closed) == 1
    assert batches.waiting() == 1
    for _ in range(100):
        if len(recorder.closed) == 2:
            break
        await asyncio.sleep(0.01)
    first, second = recorder.closed
    assert second is not first
    assert second.key == "incident-1"
    assert second.clip_ids == ["b"]
    assert first.clip_ids == ["a"]
    assert len(recorder.tasks) == 2


async def test_batches_of_two_incidents_do_not_mix() -> None:
    # Given two incidents of the front group at once
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=60)

    # When the driveway parks a clip of each, then the other cameras of the second
    batches.park("a", "drive", "incident-1")
    batches.park("b", "drive", "incident-2")
    batches.park("c", "door", "incident-2")
    batches.park("d", "porch", "incident-2")
    await settle()

    # Then only the second closed, with its own clips; the first still waits
    (batch,) = recorder.closed
    assert batch.key == "incident-2"
    assert batch.clip_ids == ["b", "c", "d"]
    assert batches.waiting() == 1
    batches.stop()
    await settle()


async def test_stop_cancels_the_timers_and_no_batch_closes_after() -> None:
    # Given a batch waiting on its timer, and one about to close (every camera in)
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=0.05)
    batches.park("a", "drive", "incident-1")
    for clip_id, camera in (("b", "drive"), ("c", "door"), ("d", "porch")):
        batches.park(clip_id, camera, "incident-2")

    # When the batches stop, before either closes
    batches.stop()
    await asyncio.sleep(0.15)

    # Then no batch was ever closed, nothing waits, and no timer task is left running
    assert recorder.closed == []
    assert batches.waiting() == 0
    assert len(recorder.tasks) == 2
    assert all(task.cancelled() for task in recorder.tasks)
    assert not [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("homesec incident") and not task.done()
    ]


async def test_a_late_clip_waits_only_for_cameras_not_yet_in_its_incident() -> None:
    # Given the front group's incident whose first batch closed with all three cameras in it
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=60)
    for clip_id, camera in (("a", "drive"), ("b", "door"), ("c", "porch")):
        batches.park(clip_id, camera, "incident-1")
    await settle()
    assert [batch.clip_ids for batch in recorder.closed] == [["a", "b", "c"]]

    # When a late front-door clip of the same incident reaches the vision stage
    batches.park("d", "door", "incident-1")
    await settle()

    # Then it does not wait the gap: every camera of the group has been in the incident
    assert [batch.clip_ids for batch in recorder.closed] == [["a", "b", "c"], ["d"]]
    assert batches.waiting() == 0

    # And a clip of another incident still waits for the other cameras
    batches.park("e", "door", "incident-2")
    await settle()
    assert batches.waiting() == 1
    batches.stop()
    await settle()


async def test_only_the_newest_incidents_cameras_are_remembered() -> None:
    # Given RECENT_INCIDENTS + 1 incidents of the front group, each closed with all its cameras
    recorder = Recorder()
    batches = make_batches(recorder, wait_s=60)
    for index in range(RECENT_INCIDENTS + 1):
        for camera in ("drive", "door", "porch"):
            batches.park(f"{index}-{camera}", camera, f"incident-{index}")
        await settle()
    assert len(recorder.closed) == RECENT_INCIDENTS + 1

    # When a late clip comes for the oldest incident and one for the newest
    batches.park("late-old", "door", "incident-0")
    batches.park("late-new", "door", f"incident-{RECENT_INCIDENTS}")
    await settle()

    # Then the oldest incident was forgotten: its late clip waits for the other cameras again
    assert [batch.clip_ids for batch in recorder.closed[-1:]] == [["late-new"]]
    assert batches.waiting() == 1
    batches.stop()
    await settle()
