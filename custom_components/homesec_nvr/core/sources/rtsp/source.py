"""`RtspSource`: an RTSP camera as a ClipSource (the face the pipeline and the glue see).

The work happens on the camera's worker thread (`worker.CameraWorker`); this class starts and
stops it from the event loop and reads its health.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ...interfaces import ClipCallback, ClipSource
from ...models import LiveDetection
from .live_detect import FrameDetector, LiveDetector
from .probe import StreamInfo
from .settings import SOURCE_TYPE, RtspSettings
from .worker import CameraWorker


class RtspSource(ClipSource):
    """Records motion clips from an RTSP camera (one worker thread per camera).

    For the Home Assistant glue: `on_motion(bool)` and `on_status()` are called on the event
    loop (thread-safe hand-off) when the motion state or the connection state changes, and
    `on_detection(LiveDetection)` when `frame_detector` (the camera's object filter on one
    frame) first sees one of `trigger_classes` during a motion event; read the
    health attributes (`connected`, `motion`, `last_frame_time`, `last_error`, `reconnects`,
    `unreachable_since`) or `diagnostics()` from the event loop at any time.
    """

    source_type = SOURCE_TYPE

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        settings: RtspSettings,
        on_motion: Callable[[bool], None] | None = None,
        on_status: Callable[[], None] | None = None,
        frame_detector: FrameDetector | None = None,
        trigger_classes: frozenset[str] = frozenset(),
        on_detection: Callable[[LiveDetection], None] | None = None,
    ) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_detection = on_detection
        live = (
            LiveDetector(
                camera_id=camera_id,
                camera_name=camera_name,
                detect=frame_detector,
                trigger_classes=trigger_classes,
                on_detection=self._detected,
            )
            if frame_detector is not None and on_detection is not None and trigger_classes
            else None
        )
        self._worker = CameraWorker(
            camera_id=camera_id,
            camera_name=camera_name,
            settings=settings,
            on_motion=on_motion,
            on_status=on_status,
            live=live,
        )

    def _detected(self, detection: LiveDetection) -> None:
        """Live detector thread: hand the detection to `on_detection` on the event loop."""
        loop, callback = self._loop, self._on_detection
        if loop is not None and callback is not None:
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(callback, detection)

    # -- ClipSource

    async def start(self, on_clip: ClipCallback) -> None:
        self._loop = asyncio.get_running_loop()
        self._worker.start(self._loop, on_clip)

    async def stop(self) -> None:
        await self._worker.stop()

    def diagnostics(self) -> dict[str, Any]:
        return self._worker.diagnostics()

    # -- health (written by the worker thread, read from the event loop)

    @property
    def healthy(self) -> bool:
        """True while the stream is connected."""
        return self._worker.connected

    @property
    def connected(self) -> bool:
        """True while the stream is connected."""
        return self._worker.connected

    @property
    def motion(self) -> bool:
        """The motion state (what `on_motion` last reported)."""
        return self._worker.motion

    @property
    def last_frame_time(self) -> datetime | None:
        """Wall-clock time of the last video packet received."""
        return self._worker.last_frame_time

    @property
    def last_error(self) -> str | None:
        """The last problem (stream lost, clip not handed over); cleared on connection."""
        return self._worker.last_error

    @property
    def reconnects(self) -> int:
        """How many times the stream connected again after having been connected."""
        return self._worker.reconnects

    @property
    def unreachable_since(self) -> datetime | None:
        """When the camera was lost or never reached; None while connected."""
        return self._worker.unreachable_since

    @property
    def stream_info(self) -> StreamInfo | None:
        """What the record stream holds (known once connected)."""
        return self._worker.stream_info

    @property
    def last_motion_score(self) -> float:
        """Changed share of the last analysed frame, in percent."""
        return self._worker.last_motion_score

    @property
    def frames_analyzed(self) -> int:
        """Detect frames compared with the background."""
        return self._worker.frames_analyzed

    @property
    def decode_errors(self) -> int:
        """Detect packets the decoder rejected."""
        return self._worker.decode_errors

    @property
    def clips_emitted(self) -> int:
        """Clips handed over to `on_clip`."""
        return self._worker.clips_emitted

    @property
    def worker_cpu_s(self) -> float:
        """CPU time used by the worker thread (seconds)."""
        return self._worker.worker_cpu_s
