"""A series of JPEG snapshots becomes one short H.264 clip (PyAV), so the pipeline sees a video.

Cameras set to upload pictures on motion send a burst of JPEGs per event. `SnapshotSeries`
collects one camera's JPEGs; one that arrives within `gap_s` of the previous belongs to the same
event. After a quiet `gap_s` (or `max_frames`), `encode_series` (blocking: run it in an
executor) writes the frames, timed by when each JPEG arrived, into an mp4; the last frame is
held for `HOLD_S` so even a single picture gives a playable clip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av

from ..media import open_input

_LOGGER = logging.getLogger(__name__)

JPEG_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg"})
HOLD_S = 1.0
MAX_SIDE = 1920
TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One uploaded JPEG: its file, its client path and when it arrived (epoch ns)."""

    path: Path
    virtual: str
    arrived_ns: int


class SnapshotError(Exception):
    """No frame of the series could be decoded."""


def _decode(path: Path) -> Any:
    with open_input(path) as container:
        for frame in container.decode(video=0):
            return frame
    raise SnapshotError(f"{path.name} holds no picture")


def encode_series(snapshots: list[Snapshot], target: Path) -> tuple[int, float]:
    """Blocking: encode the series into `target` (H.264 mp4); (frames written, duration s).

    Pictures that cannot be decoded are skipped; the size is the first good picture's (even,
    at most `MAX_SIDE`), later ones of another size are scaled to it.
    """
    frames: list[tuple[int, Any]] = []
    for snapshot in sorted(snapshots, key=lambda s: s.arrived_ns):
        try:
            frames.append((snapshot.arrived_ns, _decode(snapshot.path)))
        except (SnapshotError, av.FFmpegError, OSError) as err:
            _LOGGER.debug("Snapshot %s skipped: %s", snapshot.virtual, err)
    if not frames:
        raise SnapshotError("no picture of the series could be decoded")
    first_ns = frames[0][0]
    width, height = frames[0][1].width, frames[0][1].height
    scale = min(1.0, MAX_SIDE / max(width, height))
    width, height = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
    target.parent.mkdir(parents=True, exist_ok=True)
    last_pts = -1
    with av.open(str(target), mode="w", format="mp4") as container:
        stream = cast(Any, container.add_stream("libx264", rate=25))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.options = {"preset": "veryfast", "tune": "stillimage"}
        held = frames[-1]
        timeline = [*frames, (held[0] + int(HOLD_S * 1e9), held[1])]
        for arrived_ns, picture in timeline:
            pts = max(last_pts + 1, (arrived_ns - first_ns) // 1_000_000)
            last_pts = pts
            frame = picture.reformat(width=width, height=height, format="yuv420p")
            frame.pts = pts
            frame.time_base = TIME_BASE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return len(frames), last_pts / 1000


SeriesCallback = Callable[[list[Snapshot]], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class SnapshotSeries:
    """The JPEGs of the event in progress; `on_series` gets them after a quiet `gap_s`."""

    gap_s: float
    on_series: SeriesCallback
    max_frames: int = 600
    _pending: list[Snapshot] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def add(self, snapshot: Snapshot) -> None:
        self._pending.append(snapshot)
        if self._timer is not None:
            self._timer.cancel()
        if len(self._pending) >= self.max_frames:
            self.flush()
            return
        self._timer = asyncio.get_running_loop().call_later(self.gap_s, self.flush)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """End the event now: its series goes to `on_series` (in a task)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        series, self._pending = self._pending, []
        if not series:
            return
        task = asyncio.get_running_loop().create_task(
            self.on_series(series), name="homesec ftp snapshot series"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Forget the pending series (its files stay and are taken at the next start) and
        wait for series being encoded."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = []
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
