"""Live object detection on an RTSP camera's detect frames, while motion lasts.

The worker thread already decodes the detect stream for motion. While a motion run is under
way it offers those frames here; at most one frame is looked at at a time, on a thread of its
own (so the model never holds up reading the stream), and no more often than every
`interval_s`; once an event has had `fast_frames` frames looked at without a trigger object,
every `slow_interval_s` (wind in the trees must not keep the model busy). The first trigger
object of a motion event is reported once, as a `LiveDetection` with the frame as JPEG, so the
first alert goes out while the event is still going on, long before its clip is finished.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import av

from ...models import LiveDetection
from .settings import SOURCE_TYPE

if TYPE_CHECKING:
    from ...filters.onnx import FrameDetections

_LOGGER = logging.getLogger(__name__)

FrameDetector = Callable[[av.VideoFrame], "FrameDetections"]
# Events remembered as already reported (a motion event lasts seconds to minutes).
_REPORTED_KEEP = 64
DEFAULT_INTERVAL_S = 0.25
DEFAULT_SLOW_INTERVAL_S = 1.0
DEFAULT_FAST_FRAMES = 8


class LiveDetector:
    """Offers detect frames to the object filter during motion; reports each event's first
    trigger object (called on the detector's own thread: the caller hops to its loop)."""

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        detect: FrameDetector,
        trigger_classes: frozenset[str],
        on_detection: Callable[[LiveDetection], None],
        interval_s: float = DEFAULT_INTERVAL_S,
        slow_interval_s: float = DEFAULT_SLOW_INTERVAL_S,
        fast_frames: int = DEFAULT_FAST_FRAMES,
    ) -> None:
        self._camera_id = camera_id
        self._camera_name = camera_name
        self._detect = detect
        self._trigger_classes = trigger_classes
        self._on_detection = on_detection
        self._interval_s = interval_s
        self._slow_interval_s = slow_interval_s
        self._fast_frames = fast_frames
        # Frames taken for the current event (the interval slows down after fast_frames).
        self._event: str | None = None
        self._event_frames = 0
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._last_offer = -1e9
        self._reported: deque[str] = deque(maxlen=_REPORTED_KEEP)
        # Counters (diagnostics).
        self.frames_checked = 0
        self.detections_reported = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_inference_ms: float | None = None

    def offer(self, frame: av.VideoFrame, event_key: str) -> bool:
        """Worker thread: look at this frame unless one is being looked at, it is too soon,
        or the event was already reported. Returns whether the frame was taken."""
        now = time.monotonic()
        with self._lock:
            if event_key != self._event:
                self._event, self._event_frames = event_key, 0
            interval = (
                self._interval_s
                if self._event_frames < self._fast_frames
                else self._slow_interval_s
            )
            if self._busy or now - self._last_offer < interval or event_key in self._reported:
                return False
            self._busy = True
            self._last_offer = now
            self._event_frames += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"homesec-live-{self._camera_id}"
                )
            executor = self._executor
        seen_at = datetime.now(UTC)
        try:
            executor.submit(self._look, frame, event_key, seen_at)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._busy = False
            return False
        return True

    def _look(self, frame: av.VideoFrame, event_key: str, seen_at: datetime) -> None:
        try:
            result = self._detect(frame)
        except Exception as err:  # noqa: BLE001 - a broken model must not end live detection
            self.errors += 1
            message = f"{type(err).__name__}: {err}"
            if message != self.last_error:
                _LOGGER.warning(
                    "Camera %s: live detection failed (clips are still checked): %s",
                    self._camera_name,
                    message,
                )
            self.last_error = message
            return
        finally:
            with self._lock:
                self._busy = False
        self.frames_checked += 1
        self.last_inference_ms = result.duration_ms
        hits = [d for d in result.detections if d.label in self._trigger_classes]
        if not hits:
            return
        best = max(hits, key=lambda d: d.confidence)
        with self._lock:
            if event_key in self._reported:
                return
            self._reported.append(event_key)
        self.detections_reported += 1
        self._on_detection(
            LiveDetection(
                event_key=event_key,
                camera_id=self._camera_id,
                camera_name=self._camera_name,
                source_type=SOURCE_TYPE,
                label=best.label,
                confidence=best.confidence,
                detected_at=seen_at,
                snapshot_jpeg=result.jpeg,
            )
        )

    def close(self) -> None:
        """Wait for the frame being looked at, then release the thread (blocking)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def diagnostics(self) -> dict[str, object]:
        """Counters (no secrets)."""
        return {
            "frames_checked": self.frames_checked,
            "detections_reported": self.detections_reported,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_inference_ms": (
                round(self.last_inference_ms, 1) if self.last_inference_ms is not None else None
            ),
        }
