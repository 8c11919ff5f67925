"""Grouping a camera's clips into events, for sources that do not say which event a clip is of.

RTSP cameras and Frigate name each clip's event themselves (`EVENT_KEY` in the clip's metadata:
a motion event, a Frigate event). A watched folder only sees files: a camera that uploads one
long visit as three 20-second files would notify three times. With a group window, a clip that
starts at most `window_s` after the end of the camera's previous clip joins that clip's event;
its notification then replaces the earlier one (the same tag) instead of adding another.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .models import EVENT_KEY, Clip


class EventGrouper:
    """Gives each clip without a source event the event of the camera's previous clip, when
    it follows within the camera's group window (0: every clip is its own event)."""

    def __init__(self, window_s: Callable[[str], float]) -> None:
        self._window_s = window_s
        # Per camera: the end of its latest clip and that clip's event.
        self._last: dict[str, tuple[datetime, str]] = {}

    def assign(self, clip: Clip) -> str | None:
        """Set the clip's event (in its metadata) when the window groups it; return the event
        the clip belongs to, or None when it is its own."""
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

    def _remember(self, clip: Clip, key: str) -> None:
        last = self._last.get(clip.camera_id)
        if last is None or clip.end_ts >= last[0]:
            self._last[clip.camera_id] = (clip.end_ts, key)
