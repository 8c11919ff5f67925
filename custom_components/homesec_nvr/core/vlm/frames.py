"""Choose and encode the frames a vision model sees of a clip.

Frames are spread over the clip and favour the moments where the object filter saw something;
each is labelled with its time from the start of the clip ("t=3.0s"), resized so its longest
side fits, and JPEG-encoded.

Decoding reuses the filter's `FrameSampler`. When the stream's keyframes are close enough
together (at most `sample_interval`), only keyframes are decoded and the nearest keyframe stands
in for each wanted time; otherwise every frame has to be decoded anyway, and the frame nearest
each wanted time is taken. Only the chosen frames are resized and encoded; decoding stops as
soon as the last wanted time is passed.

Blocking code: call `prepare_frames` from a worker thread.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..filters.sampling import FrameSampler, SampledFrame
from ..interfaces import PermanentError
from ..media import READ_ERRORS, as_fraction, frame_to_image, open_input, probe_duration
from ..models import Detection

# Sampling interval bounds (seconds): dense enough to land near every wanted time, never so
# dense that a long clip is decoded frame by frame when keyframes would do.
MIN_SAMPLE_INTERVAL_S = 0.25
MAX_SAMPLE_INTERVAL_S = 2.0
# Detection times closer than this are the same moment.
_DETECTION_BUCKET_S = 0.05
_MAX_SAMPLED_FRAMES = 1_000_000
# Sampling interval that makes FrameSampler yield every frame (timestamps mode).
_EVERY_FRAME_S = 0.01


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One JPEG frame and when it shows, in seconds from the start of the clip."""

    timestamp_s: float
    jpeg: bytes
    width: int
    height: int

    @property
    def label(self) -> str:
        """The time label the prompt uses for this frame, e.g. "t=3.0s"."""
        return format_time_label(self.timestamp_s)

    def data_url(self) -> str:
        """The frame as a `data:image/jpeg;base64,...` URL."""
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


@dataclass(frozen=True, slots=True)
class PreparedFrames:
    """The frames of one clip, ready for the request."""

    frames: tuple[EncodedFrame, ...]
    # Length of the clip (seconds): the bound the entity timeline is clamped to.
    duration_s: float
    source_width: int
    source_height: int
    frames_decoded: int
    elapsed_ms: int


def format_time_label(timestamp_s: float) -> str:
    """`t=3.0s` (one decimal)."""
    return f"t={timestamp_s:.1f}s"


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Width and height scaled down (never up) so the longest side is at most `max_side`."""
    if width <= 0 or height <= 0:
        raise ValueError("frame size must be positive")
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def sample_interval(duration_s: float, max_frames: int) -> float:
    """How densely to sample: about two candidates per wanted frame, within bounds."""
    if duration_s <= 0:
        return MIN_SAMPLE_INTERVAL_S
    wanted = duration_s / (2 * max(1, max_frames))
    return min(MAX_SAMPLE_INTERVAL_S, max(MIN_SAMPLE_INTERVAL_S, wanted))


def probe_keyframe_interval(path: Path, limit_s: float) -> float | None:
    """Seconds between the first two keyframes, None when longer than `limit_s` or unknown.

    Demuxes only (no decoding). A clip that ends before a second keyframe counts as 0.
    """
    try:
        with open_input(path, options={"skip_frame": "all"}) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            time_base = as_fraction(stream.time_base)
            if time_base is None:
                return None
            first_key: int | None = None
            for packet in container.demux(stream):
                pts = packet.pts if isinstance(packet.pts, int) else packet.dts
                if packet.size == 0 or not isinstance(pts, int):
                    continue
                if packet.is_keyframe:
                    if first_key is None:
                        first_key = pts
                    elif pts > first_key:
                        return float((pts - first_key) * time_base)
                if first_key is not None and float((pts - first_key) * time_base) > limit_s:
                    return None
            return 0.0 if first_key is not None else None
    except READ_ERRORS:
        return None


def detection_focus_times(detections: Iterable[Detection], count: int) -> list[float]:
    """Up to `count` moments where the filter saw objects, spread over those moments.

    Starts with the most confident moment, then keeps adding the moment farthest from the ones
    already chosen, so a long presence gets its beginning, end and middle.
    """
    best: dict[float, float] = {}
    for detection in detections:
        if not math.isfinite(detection.timestamp_s):
            continue
        moment = round(max(0.0, detection.timestamp_s) / _DETECTION_BUCKET_S) * _DETECTION_BUCKET_S
        moment = round(moment, 3)
        best[moment] = max(best.get(moment, 0.0), detection.confidence)
    if not best or count <= 0:
        return []
    chosen = [max(sorted(best), key=lambda m: best[m])]
    remaining = sorted(m for m in best if m != chosen[0])
    while remaining and len(chosen) < count:
        farthest = max(remaining, key=lambda m: (min(abs(m - c) for c in chosen), best[m]))
        chosen.append(farthest)
        remaining.remove(farthest)
    return sorted(chosen)


def choose_times(
    duration_s: float, detections: Sequence[Detection], max_frames: int
) -> list[float]:
    """The times (seconds from clip start) to show the model, sorted.

    Without detections: evenly spread (the middle of `max_frames` equal slices). With
    detections: up to half the frames go to the moments the filter saw objects, the rest fill
    the largest gaps of the clip, including its start and end, so the model also sees what
    happened before and after.
    """
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    duration = max(0.0, duration_s)
    focus = [
        min(t, duration) if duration > 0 else t
        for t in detection_focus_times(detections, max(1, max_frames // 2))
    ]
    if not focus:
        if duration <= 0:
            return [0.0]
        step = duration / max_frames
        return [round((index + 0.5) * step, 3) for index in range(max_frames)]
    chosen = sorted(set(focus))
    min_gap = duration / (4 * max_frames) if duration > 0 else 0.0
    while len(chosen) < max_frames and duration > 0:
        # Farthest-point fill: the clip's start, its end, or the middle of the widest gap.
        options: list[tuple[float, float]] = [(chosen[0], 0.0), (duration - chosen[-1], duration)]
        options.extend(((b - a) / 2, (a + b) / 2) for a, b in itertools.pairwise(chosen))
        distance, time_s = max(options, key=lambda o: (o[0], -o[1]))
        if distance <= min_gap:
            break
        chosen.append(round(time_s, 3))
        chosen.sort()
    return chosen


def encode_frame(sample: SampledFrame, max_side: int, quality: int) -> EncodedFrame:
    """Resize a decoded frame (longest side <= max_side) and encode it as JPEG."""
    frame = sample.frame
    width, height = fit_within(frame.width, frame.height, max_side)
    image = frame_to_image(frame, width, height, interpolation="AREA")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return EncodedFrame(
        timestamp_s=round(sample.timestamp_s, 3),
        jpeg=buffer.getvalue(),
        width=width,
        height=height,
    )


def prepare_frames(
    path: Path,
    *,
    detections: Sequence[Detection] = (),
    max_frames: int = 8,
    max_side: int = 1024,
    jpeg_quality: int = 80,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
) -> PreparedFrames:
    """Pick up to `max_frames` frames of the clip and encode them (blocking).

    `duration_s` is used when the file does not tell its own duration. Raises PermanentError
    when the clip cannot be opened or holds no decodable video.
    """
    begin = time.monotonic()
    stop = stop or threading.Event()
    probed = probe_duration(path)
    duration = probed if probed is not None and probed > 0 else max(0.0, duration_s or 0.0)
    targets = choose_times(duration, detections, max_frames)
    interval = sample_interval(duration, max_frames)
    gop = probe_keyframe_interval(path, interval)
    sampler = FrameSampler(
        path,
        # Keyframes are close enough: decode only those. Otherwise every frame is decoded
        # anyway, so every frame is a candidate.
        interval_s=interval if gop is not None and gop <= interval else _EVERY_FRAME_S,
        max_frames=_MAX_SAMPLED_FRAMES,
        stop=stop,
    )
    chosen: dict[float, EncodedFrame] = {}

    def take(sample: SampledFrame) -> None:
        key = round(sample.timestamp_s, 3)
        if key not in chosen:
            chosen[key] = encode_frame(sample, max_side, jpeg_quality)

    try:
        previous: SampledFrame | None = None
        last_seen = 0.0
        index = 0
        with contextlib.closing(iter(sampler)) as samples:
            for sample in samples:
                last_seen = sample.timestamp_s
                while index < len(targets) and sample.timestamp_s >= targets[index]:
                    target = targets[index]
                    nearer_previous = previous is not None and (
                        target - previous.timestamp_s < sample.timestamp_s - target
                    )
                    take(previous if nearer_previous and previous is not None else sample)
                    index += 1
                if index >= len(targets):
                    break
                previous = sample
        if index < len(targets) and previous is not None and not stop.is_set():
            # The clip ended before the last wanted times: its last sampled frame stands in.
            take(previous)
    except PermanentError as err:
        raise PermanentError(f"cannot prepare frames for the vision model: {err}") from err
    except READ_ERRORS as err:
        raise PermanentError(
            f"cannot prepare frames of {path.name} for the vision model: {err}"
        ) from err
    if not chosen and not stop.is_set():
        raise PermanentError(f"clip {path.name} holds no decodable video frame")
    frames = tuple(chosen[key] for key in sorted(chosen))
    return PreparedFrames(
        frames=frames,
        duration_s=max(duration, last_seen),
        source_width=sampler.frame_width,
        source_height=sampler.frame_height,
        frames_decoded=sampler.frames_decoded,
        elapsed_ms=int((time.monotonic() - begin) * 1000),
    )
