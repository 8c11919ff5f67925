"""Real H.264 clips for tests, made with PyAV (nothing is committed)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_clip(
    path: Path,
    *,
    width: int = 160,
    height: int = 96,
    fps: int = 15,
    seconds: float = 2.0,
    gop_seconds: float = 1.0,
    atomic: bool = True,
) -> Path:
    """Write an H.264 mp4 with a white square moving over a dark background.

    With `atomic`, the file is written under a hidden temporary name and renamed, as a
    well-behaved camera upload would.
    """
    target = path.with_name(f".{path.name}.part") if atomic else path
    frames = max(1, round(fps * seconds))
    with av.open(str(target), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(fps * gop_seconds))
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        side = max(8, height // 4)
        for index in range(frames):
            image = np.full((height, width, 3), 20, dtype=np.uint8)
            x = int((width - side) * index / max(1, frames - 1))
            y = (height - side) // 2
            image[y : y + side, x : x + side] = 235
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if atomic:
        os.replace(target, path)
    return path
