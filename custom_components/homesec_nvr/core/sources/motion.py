"""Motion detection on small grey frames (numpy only, no Home Assistant).

The RTSP source decodes the detect stream, lets swscale shrink each sampled frame to a small grey
image (`grey_frame`, `area` interpolation, which also averages sensor noise away) and hands it to
`MotionDetector.process`:

1. a cheap box blur (two separable running sums) smooths the remaining noise and compression
   artefacts;
2. the blurred frame is compared with a running-average background: a pixel has changed when
   it differs from the background by more than `threshold` grey levels (0..255, lower is more
   sensitive);
3. pixels under the mask rectangles (normalised x, y, width, height in 0..1; for example a
   timestamp burned into the image, a tree in the wind) are ignored;
4. the score is the changed share of the unmasked pixels, in percent; there is motion when it
   reaches `min_area_percent`;
5. the background follows the frames: quickly (`background_alpha`) where nothing changed,
   slowly (`motion_alpha`) where something did, so a moving object leaves no ghost behind while
   a parked car is absorbed after a while; a change covering `lighting_change_percent` of the
   image or more (lights switched on, the camera's day/night switch) resets the background and
   is not reported as motion.

The alphas are per processed frame: at the default 5 frames per second, a static object becomes
background after about 20 s (`motion_alpha` 0.02) and a brief change fades in about 4 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

GreyImage = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]
BoolImage = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class MaskRect:
    """An ignored area: x, y, width, height as fractions (0..1) of the frame's size."""

    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"mask {name} must be between 0 and 1, got {value}")
        if self.w <= 0.0 or self.h <= 0.0:
            raise ValueError("mask width and height must be greater than 0")

    @classmethod
    def from_value(cls, value: MaskRect | Mapping[str, Any] | Sequence[float]) -> MaskRect:
        """Build from a MaskRect, a {"x", "y", "w", "h"} mapping or an (x, y, w, h) sequence."""
        if isinstance(value, MaskRect):
            return value
        if isinstance(value, Mapping):
            return cls(float(value["x"]), float(value["y"]), float(value["w"]), float(value["h"]))
        x, y, w, h = (float(v) for v in value)
        return cls(x, y, w, h)

    def to_dict(self) -> dict[str, float]:
        """Serialise (config entries, diagnostics)."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


@dataclass(frozen=True, slots=True)
class MotionConfig:
    """How sensitive the detector is, and what it ignores."""

    threshold: int = 25
    min_area_percent: float = 0.5
    masks: tuple[MaskRect, ...] = ()
    blur_radius: int = 1
    background_alpha: float = 0.1
    motion_alpha: float = 0.02
    lighting_change_percent: float = 80.0

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= 255:
            raise ValueError("threshold must be between 1 and 255")
        if not 0.0 <= self.min_area_percent <= 100.0:
            raise ValueError("min_area_percent must be between 0 and 100")
        if self.blur_radius < 0:
            raise ValueError("blur_radius must not be negative")
        for name in ("background_alpha", "motion_alpha"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class MotionResult:
    """The verdict on one frame."""

    motion: bool
    # Changed share of the unmasked pixels, in percent (0..100).
    score: float
    # True when the whole picture changed (lights, day/night switch): background reset.
    lighting_change: bool = False


def detect_size(width: int, height: int, detect_width: int) -> tuple[int, int]:
    """Size of the detect image: `detect_width` wide (never wider than the frame), same aspect,
    both even."""
    out_w = max(2, min(detect_width, width) // 2 * 2)
    out_h = max(2, round(out_w * height / max(1, width) / 2) * 2)
    return out_w, out_h


def mask_array(masks: Iterable[MaskRect], width: int, height: int) -> BoolImage:
    """True where the frame is ignored (pixels whose area overlaps a mask rectangle)."""
    ignored = np.zeros((height, width), dtype=np.bool_)
    for mask in masks:
        x1 = int(np.floor(mask.x * width))
        y1 = int(np.floor(mask.y * height))
        x2 = int(np.ceil(min(1.0, mask.x + mask.w) * width))
        y2 = int(np.ceil(min(1.0, mask.y + mask.h) * height))
        ignored[y1:y2, x1:x2] = True
    return ignored


def _box_sum_axis(image: FloatImage, radius: int, axis: int) -> FloatImage:
    """Sum over a window of 2*radius+1 along one axis (edges repeated), by shifted adds."""
    length = image.shape[axis]
    padded = np.concatenate(
        [np.take(image, [0], axis=axis)] * radius
        + [image]
        + [np.take(image, [length - 1], axis=axis)] * radius,
        axis=axis,
    )
    total = np.take(padded, range(length), axis=axis)
    for shift in range(1, 2 * radius + 1):
        if axis == 0:
            total += padded[shift : shift + length]
        else:
            total += padded[:, shift : shift + length]
    return total


def box_blur(image: GreyImage | FloatImage, radius: int) -> FloatImage:
    """A (2*radius+1)^2 box blur as float32 (radius 0 returns the image as float32)."""
    result = image.astype(np.float32, copy=True)
    if radius <= 0:
        return result
    blurred = _box_sum_axis(_box_sum_axis(result, radius, 0), radius, 1)
    blurred *= np.float32(1.0 / (2 * radius + 1) ** 2)
    return blurred


class MotionDetector:
    """Running-average background subtraction on grey frames of a fixed size.

    Not thread-safe: one detector per camera, used by the camera's worker thread.
    """

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._background: FloatImage | None = None
        self._keep: BoolImage | None = None  # False where masked
        self._unmasked = 0
        self.frames = 0

    def reset(self) -> None:
        """Forget the background (the next frame becomes the new one)."""
        self._background = None

    def process(self, grey: GreyImage) -> MotionResult:
        """Compare a grey frame (height x width, uint8) with the background, then update it."""
        config = self.config
        self.frames += 1
        blurred = box_blur(grey, config.blur_radius)
        background = self._background
        if background is None or background.shape != blurred.shape:
            self._start(blurred)
            return MotionResult(motion=False, score=0.0)
        delta = blurred - background
        changed = np.abs(delta) > np.float32(config.threshold)
        if self._keep is not None:
            changed &= self._keep
        score = float(np.count_nonzero(changed)) * 100.0 / self._unmasked if self._unmasked else 0.0
        if score >= config.lighting_change_percent:
            self._background = blurred
            return MotionResult(motion=False, score=score, lighting_change=True)
        delta *= np.where(
            changed, np.float32(config.motion_alpha), np.float32(config.background_alpha)
        )
        background += delta
        motion = self._unmasked > 0 and score >= config.min_area_percent
        return MotionResult(motion=bool(motion), score=score)

    def _start(self, blurred: FloatImage) -> None:
        height, width = blurred.shape
        if self.config.masks:
            keep = ~mask_array(self.config.masks, width, height)
            self._keep = keep
            self._unmasked = int(np.count_nonzero(keep))
        else:
            self._keep = None
            self._unmasked = blurred.size
        self._background = blurred


class GreyScaler:
    """Shrinks decoded frames to small grey images with swscale (a cached context per size)."""

    def __init__(self, detect_width: int) -> None:
        self.detect_width = detect_width
        self._reformatter = VideoReformatter()
        self.size: tuple[int, int] | None = None

    def __call__(self, frame: av.VideoFrame) -> GreyImage:
        """The frame as a `detect_width`-wide grey image (height x width, uint8)."""
        width, height = detect_size(frame.width, frame.height, self.detect_width)
        self.size = (width, height)
        small = self._reformatter.reformat(frame, width, height, "gray", interpolation="AREA")
        return cast(GreyImage, small.to_ndarray())
