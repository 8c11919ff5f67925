"""Pick frames from a clip with PyAV, decoding as little as possible.

Two modes, chosen per clip from the stream's keyframe interval (GOP), measured on the first
packets (demuxing is cheap, decoding is not):

- keyframes: the GOP is no longer than the sample interval, so a keyframe is always close to
  where a sample is due. Only keyframe packets are decoded (`skip_frame = "NONKEY"`); the
  others are never even sent to the decoder. About 13 ms per 1080p sample.
- timestamps: the GOP is longer than the sample interval. Every frame is decoded (a P/B frame
  needs its references) and the first frame at or after each due time is picked.

Blocking code: run it in a worker thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container
import av.packet
import av.video.frame
import av.video.stream

from ..interfaces import PermanentError
from ..media import READ_ERRORS, as_fraction, open_input

_LOGGER = logging.getLogger(__name__)

# In keyframe mode a keyframe is taken once this fraction of the interval has passed since the
# previous sample, so slightly irregular GOPs (1.96 s, 2.04 s ...) do not halve the sampling.
KEYFRAME_INTERVAL_TOLERANCE = 0.25
# Timestamp tolerance (seconds) for "at or after the due time".
_EPSILON_S = 1e-3
# A clip whose packets keep failing to decode is given up after this many errors in a row.
MAX_CONSECUTIVE_DECODE_ERRORS = 50


def _optional_int(value: object) -> int | None:
    """PyAV's stubs say int, but pts and dts are None when the stream does not have them."""
    return value if isinstance(value, int) else None


def _packet_time(packet: av.packet.Packet[Any]) -> int | None:
    pts = _optional_int(packet.pts)
    return pts if pts is not None else _optional_int(packet.dts)


class SamplingMode(StrEnum):
    """How frames are picked from a clip."""

    KEYFRAMES = "keyframes"
    TIMESTAMPS = "timestamps"


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """A decoded frame and when it shows, in seconds from the start of the clip."""

    frame: av.video.frame.VideoFrame
    timestamp_s: float


class FrameSampler:
    """Iterate over the sampled frames of one clip.

    `mode` and `keyframe_interval_s` are known once iteration has started. Setting `stop` (a
    threading.Event) ends the iteration at the next packet. Raises PermanentError for a file
    that cannot be opened, has no video stream, or holds no decodable frame.
    """

    def __init__(
        self,
        path: Path,
        interval_s: float,
        max_frames: int,
        stop: threading.Event | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.path = path
        self.interval_s = interval_s
        self.max_frames = max_frames
        self.stop = stop or threading.Event()
        self.mode: SamplingMode | None = None
        self.keyframe_interval_s: float | None = None
        self.frame_width = 0
        self.frame_height = 0
        self.frames_decoded = 0
        self.packets_read = 0

    def __iter__(self) -> Generator[SampledFrame]:
        # skip_frame=all: PyAV's stream probing would otherwise decode several frames
        # (20 ms at 1080p) only to learn what the decoder will tell us anyway.
        try:
            container = open_input(self.path, options={"skip_frame": "all"})
        except READ_ERRORS as err:
            raise PermanentError(f"cannot open clip {self.path.name}: {err}") from err
        try:
            if not container.streams.video:
                raise PermanentError(f"clip {self.path.name} has no video stream")
            stream = container.streams.video[0]
            self.frame_width = stream.codec_context.width
            self.frame_height = stream.codec_context.height
            yield from self._sample(container, stream)
        except READ_ERRORS as err:
            raise PermanentError(f"cannot decode clip {self.path.name}: {err}") from err
        finally:
            container.close()

    def _sample(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[SampledFrame]:
        time_base = as_fraction(stream.time_base)
        if time_base is None:
            raise PermanentError(f"clip {self.path.name} has no time base")
        packets = container.demux(stream)
        head, gop_s = self._probe_gop(packets, time_base)
        self.keyframe_interval_s = gop_s
        keyframes_only = gop_s is not None and gop_s <= self.interval_s + _EPSILON_S
        self.mode = SamplingMode.KEYFRAMES if keyframes_only else SamplingMode.TIMESTAMPS
        _LOGGER.debug(
            "%s: keyframe interval %s s, sampling every %s s from %s",
            self.path.name,
            gop_s,
            self.interval_s,
            self.mode,
        )
        ctx = stream.codec_context
        if keyframes_only:
            ctx.skip_frame = "NONKEY"
        start_pts = stream.start_time
        frames = self._decode(itertools.chain(head, packets), stream, keyframes_only)
        last_ts: float | None = None
        next_due = 0.0
        sampled = 0
        for frame in frames:
            pts = _optional_int(frame.pts)
            if pts is None:
                continue
            if start_pts is None:
                start_pts = pts
            timestamp = float((pts - start_pts) * time_base)
            if keyframes_only:
                due = (
                    last_ts is None
                    or timestamp
                    >= last_ts + self.interval_s * (1 - KEYFRAME_INTERVAL_TOLERANCE) - _EPSILON_S
                )
            else:
                due = timestamp >= next_due - _EPSILON_S
            if not due:
                continue
            last_ts = timestamp
            while next_due <= timestamp + _EPSILON_S:
                next_due += self.interval_s
            sampled += 1
            yield SampledFrame(frame=frame, timestamp_s=max(0.0, timestamp))
            if sampled >= self.max_frames or self.stop.is_set():
                return
        if self.frames_decoded == 0 and not self.stop.is_set():
            raise PermanentError(f"clip {self.path.name} holds no decodable video frame")

    def _probe_gop(
        self, packets: Iterator[av.packet.Packet[Any]], time_base: Fraction
    ) -> tuple[list[av.packet.Packet[Any]], float | None]:
        """Read packets until the keyframe interval is known; return them and the interval.

        The interval is None when it is longer than the sample interval (no second keyframe
        within it). A clip that ends first is shorter than one interval: keyframes are then
        enough, and the interval is reported as 0.
        """
        head: list[av.packet.Packet[Any]] = []
        first_key: int | None = None
        for packet in packets:
            if packet.size == 0:
                continue
            head.append(packet)
            self.packets_read += 1
            pts = _packet_time(packet)
            if pts is None:
                continue
            if packet.is_keyframe:
                if first_key is None:
                    first_key = pts
                elif pts > first_key:
                    return head, float((pts - first_key) * time_base)
            if first_key is not None and float((pts - first_key) * time_base) > self.interval_s:
                return head, None
            if self.stop.is_set():
                break
        return head, 0.0 if first_key is not None else None

    def _decode(
        self,
        packets: Iterable[av.packet.Packet[Any]],
        stream: av.video.stream.VideoStream,
        keyframes_only: bool,
    ) -> Iterator[av.video.frame.VideoFrame]:
        """Decode the packets (keyframes only, or all), skipping undecodable ones."""
        ctx = stream.codec_context
        time_base = as_fraction(stream.time_base)
        assert time_base is not None
        errors = 0
        last_key_ts: float | None = None
        last_error: av.FFmpegError | None = None
        for packet in packets:
            if self.stop.is_set():
                return
            if packet.size == 0:
                continue
            if keyframes_only:
                if not packet.is_keyframe:
                    continue
                # Do not even decode a keyframe that comes too soon after the previous one.
                pts = _packet_time(packet)
                if pts is not None:
                    ts = float(pts * time_base)
                    min_gap = self.interval_s * (1 - KEYFRAME_INTERVAL_TOLERANCE) - _EPSILON_S
                    if last_key_ts is not None and ts < last_key_ts + min_gap:
                        continue
                    last_key_ts = ts
            try:
                frames = ctx.decode(packet)
                if keyframes_only and not frames:
                    # The decoder holds frames back for B-frame reordering; drain it so the
                    # keyframe comes out now (early exit latency), then reset it.
                    frames = ctx.decode(None)
                    ctx.flush_buffers()
            except av.FFmpegError as err:
                errors += 1
                last_error = err
                if errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise PermanentError(
                        f"clip {self.path.name} is corrupt: {errors} undecodable packets "
                        f"in a row ({err})"
                    ) from err
                continue
            errors = 0
            for frame in frames:
                self.frames_decoded += 1
                yield frame
        try:
            tail = ctx.decode(None)
        except av.FFmpegError as err:
            last_error = err
            tail = []
        for frame in tail:
            self.frames_decoded += 1
            yield frame
        if self.frames_decoded == 0 and last_error is not None:
            raise PermanentError(f"cannot decode clip {self.path.name}: {last_error}")
