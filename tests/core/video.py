"""Synthetic H.264 clips made with PyAV (for tests and the benchmark; nothing is committed).

`write_h264_clip` draws a bright rectangle over a dark, slightly textured background, straight in
YUV 4:2:0 (no RGB conversion), with a fixed keyframe interval. The rectangle can stand still,
move at a constant speed, or show only between two times; `object_box_at` tells where it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.video.stream
import numpy as np
import numpy.typing as npt

# Video-range luma of the background and of the object.
BACKGROUND_Y = 24
OBJECT_Y = 235


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """What a synthetic clip looks like (sizes in pixels, times in seconds)."""

    width: int = 160
    height: int = 96
    fps: int = 15
    seconds: float = 4.0
    gop_seconds: float = 1.0
    # Object: (x1, y1, x2, y2) at t=0, moving right at `object_speed` pixels per second.
    object_box: tuple[int, int, int, int] | None = (16, 32, 48, 80)
    object_speed: float = 0.0
    object_from_s: float = 0.0
    object_until_s: float | None = None
    # Encoder: B-frames, a target bitrate (None = constant quality), texture noise amplitude.
    bframes: int = 0
    bit_rate: int | None = None
    noise: int = 0
    preset: str = "ultrafast"

    @property
    def frame_count(self) -> int:
        return max(1, round(self.fps * self.seconds))

    @property
    def gop_frames(self) -> int:
        return max(1, round(self.fps * self.gop_seconds))


def object_box_at(spec: ClipSpec, t: float) -> tuple[int, int, int, int] | None:
    """Where the object is at time t (frame pixels), or None when it is not shown."""
    if spec.object_box is None or t < spec.object_from_s - 1e-9:
        return None
    if spec.object_until_s is not None and t >= spec.object_until_s - 1e-9:
        return None
    x1, y1, x2, y2 = spec.object_box
    dx = round(spec.object_speed * t)
    width = x2 - x1
    left = min(max(0, x1 + dx), spec.width - width)
    return left, y1, left + width, y2


def _noise_planes(spec: ClipSpec, count: int) -> list[npt.NDArray[np.int16]]:
    """A few blocky noise textures (8x8 blocks) cycled over the frames."""
    if spec.noise <= 0:
        return [np.zeros((spec.height, spec.width), dtype=np.int16)]
    rng = np.random.default_rng(1234)
    planes = []
    for _ in range(count):
        small = rng.integers(0, spec.noise, (spec.height // 8 + 1, spec.width // 8 + 1))
        planes.append(small.repeat(8, 0).repeat(8, 1)[: spec.height, : spec.width].astype(np.int16))
    return planes


def write_h264_clip(path: Path, spec: ClipSpec | None = None, *, atomic: bool = False) -> Path:
    """Write the clip as an H.264 mp4 (even width and height); return its path."""
    spec = spec or ClipSpec()
    if spec.width % 2 or spec.height % 2:
        raise ValueError("width and height must be even")
    target = path.with_name(f".{path.name}.part") if atomic else path
    gop = spec.gop_frames
    height, width = spec.height, spec.width
    # A soft diagonal gradient so the background is not flat.
    yy, xx = np.mgrid[0:height, 0:width]
    background = (BACKGROUND_Y + ((xx + yy) % 64) // 8).astype(np.int16)
    noise = _noise_planes(spec, 8)
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)
    with av.open(str(target), mode="w", format="mp4") as container:
        stream = cast(av.video.stream.VideoStream, container.add_stream("libx264", rate=spec.fps))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, spec.fps)
        stream.codec_context.gop_size = gop
        if spec.bit_rate:
            stream.codec_context.bit_rate = spec.bit_rate
        stream.codec_context.options = {
            "preset": spec.preset,
            "x264-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={spec.bframes}"
                ":rc-lookahead=0:sync-lookahead=0"
            ),
        }
        for index in range(spec.frame_count):
            luma = background + noise[index % len(noise)]
            box = object_box_at(spec, index / spec.fps)
            if box is not None:
                x1, y1, x2, y2 = box
                luma[y1:y2, x1:x2] = OBJECT_Y
            yuv = np.concatenate((np.clip(luma, 16, 235).astype(np.uint8), chroma))
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, spec.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if atomic:
        os.replace(target, path)
    return path
