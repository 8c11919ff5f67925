"""Real H.264 clips for the Home Assistant tests (made with PyAV; nothing is committed).

A shorthand over `tests/core/video.py`'s generator: a white square crossing a dark background.
"""

from __future__ import annotations

from pathlib import Path

from .core.video import ClipSpec, write_h264_clip


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
    """Write an H.264 mp4 with a moving square. With `atomic`, the file is written under a
    hidden temporary name and renamed, as a well-behaved camera upload would."""
    side = max(8, height // 4)
    top = (height - side) // 2
    spec = ClipSpec(
        width=width,
        height=height,
        fps=fps,
        seconds=seconds,
        gop_seconds=gop_seconds,
        object_box=(0, top, side, top + side),
        object_speed=(width - side) / max(seconds, 1e-3),
    )
    return write_h264_clip(path, spec, atomic=atomic)
