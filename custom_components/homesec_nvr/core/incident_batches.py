"""Which clips of an incident across cameras are analysed together.

The grouper (core/grouping.py) gives every clip of a camera group's incident the incident's
key. When such a clip reaches the vision stage it waits in its incident's batch for the
group's other cameras, at most `wait_s` (the incident gap) after the batch opened; the batch
closes at once when every camera of the group has a clip in it or it holds
MAX_INCIDENT_CLIPS. A clip whose batch closes alone is analysed alone, as if it had never
waited; a batch of several is analysed once (core/runner.py). A clip of the incident that
arrives after its batch closed opens the next batch, which waits only for the group's cameras
that have not been in the incident yet (none left: it closes at once). Nothing here holds a
pipeline worker: the runner parks a waiting clip and takes it up again when its batch closes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from .interfaces import TaskFactory
from .vlm.incident import MAX_INCIDENT_CLIPS

# Clip metadata: the clip whose request analysed this clip with its incident, and the clip
# whose alert was the incident's (this one then does not notify).
INCIDENT_LEAD: str = "incident_lead"
INCIDENT_ALERTED_WITH: str = "incident_alerted_with"
# Incidents whose cameras are remembered after their batch closed.
RECENT_INCIDENTS = 256


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """The camera groups and how long a clip waits for the rest of its group."""

    # The group of a camera (None: in no group).
    group_of: Callable[[str], str | None]
    # The cameras of a group (ids).
    group_cameras: Callable[[str], Collection[str]]
    # Seconds a clip waits for the group's other cameras (the incident gap; 0: never).
    wait_s: Callable[[], float]


@dataclass(slots=True, eq=False)
class IncidentBatch:
    """The clips of one incident waiting to be analysed together (in the order they came)."""

    key: str
    group: str
    clip_ids: list[str] = field(default_factory=list)
    cameras: set[str] = field(default_factory=set)
    timer: asyncio.Task[None] | None = None


class IncidentBatches:
    """Open batches by incident key; `on_close(batch)` is called once per batch, from the
    event loop (never from inside `park`)."""

    def __init__(
        self,
        settings: IncidentSettings,
        on_close: Callable[[IncidentBatch], None],
        create_task: TaskFactory,
    ) -> None:
        self._settings = settings
        self._on_close = on_close
        self._create_task = create_task
        self._open: dict[str, IncidentBatch] = {}
        # The cameras of incidents whose batches closed (the newest RECENT_INCIDENTS): a late
        # clip of one waits only for cameras that have not been in it yet.
        self._seen: OrderedDict[str, set[str]] = OrderedDict()

    def waits(self, camera_id: str) -> bool:
        """True when a clip of this camera waits for its group (a group of several cameras
        and a wait above 0)."""
        group = self._settings.group_of(camera_id)
        if group is None or self._settings.wait_s() <= 0:
            return False
        return len(self._settings.group_cameras(group)) > 1

    def park(self, clip_id: str, camera_id: str, key: str) -> None:
        """Put a clip in its incident's open batch (opening one when there is none)."""
        group = self._settings.group_of(camera_id) or ""
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = IncidentBatch(key=key, group=group)
            batch.timer = self._create_task(
                self._close_later(batch, max(0.0, self._settings.wait_s())),
                f"homesec incident {key}",
            )
        batch.clip_ids.append(clip_id)
        batch.cameras.add(camera_id)
        came = batch.cameras | self._seen.get(key, set())
        everyone = set(self._settings.group_cameras(group)) <= came
        if everyone or len(batch.clip_ids) >= MAX_INCIDENT_CLIPS:
            # Soon, not now: the clip being parked is still its worker's until park returns.
            asyncio.get_running_loop().call_soon(self._close, batch)

    def waiting(self) -> int:
        """Clips waiting in open batches."""
        return sum(len(batch.clip_ids) for batch in self._open.values())

    def stop(self) -> None:
        """Drop every open batch (its clips stay unfinished in the store and are resumed)."""
        for batch in self._open.values():
            if batch.timer is not None:
                batch.timer.cancel()
        self._open.clear()

    async def _close_later(self, batch: IncidentBatch, delay: float) -> None:
        await asyncio.sleep(delay)
        batch.timer = None
        self._close(batch)

    def _close(self, batch: IncidentBatch) -> None:
        if self._open.get(batch.key) is not batch:
            return
        del self._open[batch.key]
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        self._seen.setdefault(batch.key, set()).update(batch.cameras)
        self._seen.move_to_end(batch.key)
        while len(self._seen) > RECENT_INCIDENTS:
            self._seen.popitem(last=False)
        self._on_close(batch)
