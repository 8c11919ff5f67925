"""Pick frames from a clip with PyAV, decoding as little as possible.

The mode is chosen per clip from the stream's keyframe interval (GOP), measured on the first
packets (demuxing is cheap, decoding is not):

- keyframes: the GOP is no longer than the sample interval, so a keyframe is always close to
  where a sample is due. Only keyframe packets are decoded (`skip_frame = "NONKEY"`); the
  others are never even sent to the decoder. About 13 ms per 1080p sample.
- long_gop (when `max_gap_s` is given; the object filter's choice): the GOP is longer than the
  sample interval. Every keyframe is decoded; the frames after one (a P/B frame needs every
  frame back to its keyframe) only while the next keyframe is more than `max_gap_s` after the
  last sample, and sampled every interval. So no two samples are more than
  max(interval, max_gap_s) apart: an object in view that long is always on a sampled frame,
  and with a GOP of up to `max_gap_s` only keyframes are decoded. The trade-off: an object in
  view for less than a GOP (at most `max_gap_s`) between two keyframes can be missed, where
  decoding every frame would have caught anything in view for one interval.
- timestamps (when `max_gap_s` is None): the GOP is longer than the sample interval. Every
  frame is decoded and the first frame at or after each due time is picked (the vision model's
  frame picker wants exact times).

The decoder runs in one thread: decoding runs beside inference, and a second decoder thread
would take the second core of a small machine for little gain.

Blocking code: run it in a worker thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

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
# The object filter's bound on the time between two samples when keyframes are rarer than the
# sample interval (long_gop mode): a GOP up to this long is sampled from its keyframes alone.
DEFAULT_MAX_GAP_S = 4.0
# long_gop mode reads ahead (demuxes, never decodes) at most this many packets to find the next
# keyframe; a stream without usable timestamps would otherwise be read ahead to its end.
MAX_LOOKAHEAD_PACKETS = 2000


def _optional_int(value: object) -> int | None:
    """PyAV's stubs say int, but pts and dts are None when the stream does not have them."""
    return value if isinstance(value, int) else None


def _packet_time(packet: av.packet.Packet[Any]) -> int | None:
    pts = _optional_int(packet.pts)
    return pts if pts is not None else _optional_int(packet.dts)


class SamplingMode(StrEnum):
    """How frames are picked from a clip."""

    KEYFRAMES = "keyframes"
    LONG_GOP = "long_gop"
    TIMESTAMPS = "timestamps"


# In a decoding plan: empty the decoder (its held-back frames come out) and reset it, before
# a keyframe that follows packets left out.
_RESET: Final = None
type _Plan = Iterator[av.packet.Packet[Any] | None]


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """A decoded frame and when it shows, in seconds from the start of the clip."""

    frame: av.video.frame.VideoFrame
    timestamp_s: float


class _Lookahead:
    """The packets of a stream, with the time of the next keyframe found by reading ahead."""

    def __init__(self, packets: Iterator[av.packet.Packet[Any]], time_base: Fraction) -> None:
        self._source = packets
        self._time_base = time_base
        self._buffer: deque[av.packet.Packet[Any]] = deque()
        # Times (s) of the keyframes in the buffer, and the latest packet time read so far.
        self._keyframes: deque[float | None] = deque()
        self._latest_s: float | None = None
        self._ended = False

    def __iter__(self) -> Iterator[av.packet.Packet[Any]]:
        return self

    def __next__(self) -> av.packet.Packet[Any]:
        if not self._buffer and not self._read():
            raise StopIteration
        packet = self._buffer.popleft()
        if packet.is_keyframe:
            self._keyframes.popleft()
        return packet

    def _read(self) -> bool:
        if self._ended:
            return False
        for packet in self._source:
            if packet.size == 0:
                continue
            pts = _packet_time(packet)
            ts = None if pts is None else float(pts * self._time_base)
            if ts is not None and (self._latest_s is None or ts > self._latest_s):
                self._latest_s = ts
            self._buffer.append(packet)
            if packet.is_keyframe:
                self._keyframes.append(ts)
            return True
        self._ended = True
        return False

    def keyframe_within(self, limit_s: float) -> bool:
        """Whether the next keyframe (or the end of the stream) comes at or before `limit_s`."""
        while not self._keyframes:
            if self._ended:
                return self._latest_s is not None and self._latest_s <= limit_s
            if self._latest_s is not None and self._latest_s > limit_s:
                return False
            if len(self._buffer) >= MAX_LOOKAHEAD_PACKETS:
                return False
            self._read()
        first = self._keyframes[0]
        return first is not None and first <= limit_s


class FrameSampler:
    """Iterate over the sampled frames of one clip.

    `max_gap_s` chooses what happens when keyframes are rarer than the interval: None decodes
    every frame (timestamps mode); a number bounds the time between samples instead, decoding
    as few frames as that allows (long_gop mode, see the module docstring).

    `mode` and `keyframe_interval_s` are known once iteration has started; `frames_decoded`
    counts the frames the decoder produced. Setting `stop` (a threading.Event) ends the
    iteration at the next packet. Raises PermanentError for a file that cannot be opened, has
    no video stream, or holds no decodable frame.
    """

    def __init__(
        self,
        path: Path,
        interval_s: float,
        max_frames: int,
        stop: threading.Event | None = None,
        *,
        max_gap_s: float | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        if max_gap_s is not None and max_gap_s <= 0:
            raise ValueError("max_gap_s must be positive")
        self.path = path
        self.interval_s = interval_s
        self.max_frames = max_frames
        self.max_gap_s = max_gap_s
        self.stop = stop or threading.Event()
        self.mode: SamplingMode | None = None
        self.keyframe_interval_s: float | None = None
        self.frame_width = 0
        self.frame_height = 0
        self.frames_decoded = 0
        self.packets_read = 0
        # Stream time (s, not from the clip's start) of the last sampled frame.
        self._last_sample_s: float | None = None

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
        if keyframes_only:
            self.mode = SamplingMode.KEYFRAMES
        elif self.max_gap_s is not None:
            self.mode = SamplingMode.LONG_GOP
        else:
            self.mode = SamplingMode.TIMESTAMPS
        _LOGGER.debug(
            "%s: keyframe interval %s s, sampling every %s s from %s",
            self.path.name,
            gop_s,
            self.interval_s,
            self.mode,
        )
        ctx = stream.codec_context
        # Before the decoder opens (on the first packet): one thread, see the module docstring.
        ctx.thread_count = 1
        if keyframes_only:
            ctx.skip_frame = "NONKEY"
        start_pts = stream.start_time
        all_packets = itertools.chain(head, packets)
        plan: _Plan
        if self.mode is SamplingMode.KEYFRAMES:
            plan = self._keyframe_plan(all_packets, time_base)
        elif self.mode is SamplingMode.LONG_GOP:
            plan = self._long_gop_plan(_Lookahead(all_packets, time_base))
        else:
            plan = iter(all_packets)
        frames = self._decode(plan, stream, drain_keyframes=keyframes_only)
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
            self._last_sample_s = float(pts * time_base)
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

    def _keyframe_plan(
        self, packets: Iterable[av.packet.Packet[Any]], time_base: Fraction
    ) -> _Plan:
        """Keyframes mode: the keyframes at least (most of) an interval apart."""
        last_key_ts: float | None = None
        min_gap = self.interval_s * (1 - KEYFRAME_INTERVAL_TOLERANCE) - _EPSILON_S
        for packet in packets:
            if not packet.is_keyframe:
                continue
            # Do not even decode a keyframe that comes too soon after the previous one.
            pts = _packet_time(packet)
            if pts is not None:
                ts = float(pts * time_base)
                if last_key_ts is not None and ts < last_key_ts + min_gap:
                    continue
                last_key_ts = ts
            yield packet

    def _long_gop_plan(self, packets: _Lookahead) -> _Plan:
        """long_gop mode: every keyframe, and the packets after one while the next keyframe is
        more than the gap bound after the last sample (decided on the packet, from the last
        sample so far: a frame the decoder still holds back only makes the plan decode more).

        Packets before the first keyframe are decoded the same way, so a stream that flags no
        keyframe at all is still decoded (in full) rather than not at all.
        """
        assert self.max_gap_s is not None
        max_gap = max(self.interval_s, self.max_gap_s) + _EPSILON_S
        # Packets were left out since the last keyframe: the decoder lacks references.
        cut = False
        for packet in packets:
            if packet.is_keyframe:
                if cut:
                    yield _RESET
                    cut = False
                yield packet
            elif not cut:
                last = self._last_sample_s
                if last is not None and packets.keyframe_within(last + max_gap):
                    cut = True
                else:
                    yield packet

    def _decode(
        self,
        plan: _Plan,
        stream: av.video.stream.VideoStream,
        drain_keyframes: bool,
    ) -> Iterator[av.video.frame.VideoFrame]:
        """Decode the planned packets, skipping undecodable ones."""
        ctx = stream.codec_context
        errors = 0
        last_error: av.FFmpegError | None = None
        for packet in plan:
            if self.stop.is_set():
                return
            if packet is _RESET:
                yield from self._drain(ctx)
                continue
            if packet.size == 0:
                continue
            try:
                frames = ctx.decode(packet)
                if drain_keyframes and not frames:
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

    def _drain(self, ctx: Any) -> Iterator[av.video.frame.VideoFrame]:
        """Take the frames the decoder holds back, then reset it for the next keyframe."""
        try:
            frames = ctx.decode(None)
        except av.FFmpegError:
            frames = []
        ctx.flush_buffers()
        for frame in frames:
            self.frames_decoded += 1
            yield frame
