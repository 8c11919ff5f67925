"""Grouping clips into events: a camera's clips by its group window, and the clips of a camera
group (an area) into one incident.

RTSP cameras and Frigate name each clip's event themselves (`EVENT_KEY` in the clip's metadata:
a motion event, a Frigate event). A watched folder only sees files: a camera that uploads one
long visit as three 20-second files would notify three times. With a group window, a clip that
starts at most `window_s` after the end of the camera's previous clip joins that clip's event;
its notification then replaces the earlier one (the same tag) instead of adding another.

Cameras of one group (`group_of`) share that notion of "previous clip": a clip of any of the
group's cameras that overlaps the group's incident under way or starts within `gap_s` of its
end joins it, whatever its source, so a person walking from the driveway to the front door is
one incident and one notification, updated. The incident id is the event key (the first
clip's own event, or its clip id); a clip that joins keeps its source's event under
`SOURCE_EVENT_KEY`. Grouping only labels clips as they are submitted: no clip ever waits for
another camera.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .models import EVENT_KEY, Clip

# The cameras (names, in the order they joined) of the clip's incident so far, and their ids.
INCIDENT_CAMERAS: str = "incident_cameras"
INCIDENT_CAMERA_IDS: str = "incident_camera_ids"
# A grouped clip's own source event, when the incident it joined had another key.
SOURCE_EVENT_KEY: str = "source_event_key"


@dataclass(slots=True)
class _Incident:
    start: datetime
    end: datetime
    key: str
    cameras: dict[str, str] = field(default_factory=dict)


def _no_group(_camera_id: str) -> str | None:
    return None


class EventGrouper:
    """Gives each clip without a source event the event of the camera's previous clip, when
    it follows within the camera's group window (0: every clip is its own event); gives each
    clip of a grouped camera the incident of its group under way, within the gap."""

    def __init__(
        self,
        window_s: Callable[[str], float],
        group_of: Callable[[str], str | None] = _no_group,
        gap_s: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._window_s = window_s
        self._group_of = group_of
        self._gap_s = gap_s
        # Per camera: the end of its latest clip and that clip's event.
        self._last: dict[str, tuple[datetime, str]] = {}
        # Per camera group: its latest incident.
        self._incidents: dict[str, _Incident] = {}

    def assign(self, clip: Clip) -> str | None:
        """Set the clip's event (in its metadata) when a window or its group groups it;
        return the event the clip belongs to, or None when it is its own (a grouped camera's
        clip always gets its incident's key, its own when it starts one)."""
        group = self._group_of(clip.camera_id)
        if group is not None:
            return self._assign_in_group(group, clip)
        own = clip.metadata.get(EVENT_KEY)
        if isinstance(own, str):
            self._remember(clip, own)
            return own
        window = self._window_s(clip.camera_id)
        last = self._last.get(clip.camera_id)
        key: str | None = None
        if window > 0 and last is not None:
            gap = (clip.start_ts - last[0]).total_seconds()
            if -window <= gap <= window:
                key = last[1]
                clip.metadata[EVENT_KEY] = key
        self._remember(clip, key or clip.clip_id)
        return key

    def _assign_in_group(self, group: str, clip: Clip) -> str:
        own = clip.metadata.get(EVENT_KEY)
        gap = max(0.0, self._gap_s())
        incident = self._incidents.get(group)
        joins = (
            incident is not None
            and (clip.start_ts - incident.end).total_seconds() <= gap
            and (incident.start - clip.end_ts).total_seconds() <= gap
        )
        if incident is None or not joins:
            key = own if isinstance(own, str) else clip.clip_id
            incident = self._incidents[group] = _Incident(clip.start_ts, clip.end_ts, key)
        else:
            incident.start = min(incident.start, clip.start_ts)
            incident.end = max(incident.end, clip.end_ts)
            if isinstance(own, str) and own != incident.key:
                clip.metadata[SOURCE_EVENT_KEY] = own
        incident.cameras.setdefault(clip.camera_id, clip.camera_name)
        clip.metadata[EVENT_KEY] = incident.key
        clip.metadata[INCIDENT_CAMERAS] = list(incident.cameras.values())
        clip.metadata[INCIDENT_CAMERA_IDS] = list(incident.cameras)
        self._remember(clip, incident.key)
        return incident.key

    def restore(self, clip: Clip) -> None:
        """A clip of an earlier run (resumed after a restart or reload, or a camera's latest
        finished clip): the incident its metadata names is its group's under way again,
        unless the group already has a later one, so the group's next clips within the gap
        join it (one incident, one analysis, one notification) instead of starting another.
        A camera in no group gets its latest clip's event back for its group window."""
        group = self._group_of(clip.camera_id)
        key = clip.metadata.get(EVENT_KEY)
        if group is None:
            self._remember(clip, key if isinstance(key, str) else clip.clip_id)
            return
        if not isinstance(key, str):
            return
        incident = self._incidents.get(group)
        if incident is not None and incident.key != key and incident.end >= clip.end_ts:
            return  # a clip of an older incident: the group's later one stays
        if incident is None or incident.key != key:
            incident = self._incidents[group] = _Incident(clip.start_ts, clip.end_ts, key)
        incident.start = min(incident.start, clip.start_ts)
        incident.end = max(incident.end, clip.end_ts)
        ids = clip.metadata.get(INCIDENT_CAMERA_IDS) or [clip.camera_id]
        names = clip.metadata.get(INCIDENT_CAMERAS) or [clip.camera_name]
        for camera_id, name in zip(ids, names, strict=False):
            incident.cameras.setdefault(str(camera_id), str(name))
        self._remember(clip, key)

    def _remember(self, clip: Clip, key: str) -> None:
        last = self._last.get(clip.camera_id)
        if last is None or clip.end_ts >= last[0]:
            self._last[clip.camera_id] = (clip.end_ts, key)
