"""Small PyAV helpers: open a clip for reading, probe its duration, grab a keyframe as JPEG,
copy a stream.

Blocking functions: call them from a worker thread (`run_in_executor`). This is also the one
place that knows how PyAV differs between the Home Assistant lines (PyAV 13 in HA 2025.4,
PyAV 19 in HA 2026).

Every file HomeSec reads comes from a camera, an upload or Frigate: `open_input` is the one way
to open one, so every reader tolerates what camera firmware writes (a title in GBK, say), and
`READ_ERRORS` is what reading such a file can raise besides a PermanentError.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.container
from av.container import InputContainer, OutputContainer
from av.stream import Stream
from PIL import Image

from .interfaces import PermanentError

# PyAV 13 decodes container and stream metadata as strict UTF-8 unless `metadata_errors` says
# otherwise (a GBK title raised UnicodeDecodeError on open); PyAV 14+ dropped the parameter
# and always decodes with surrogateescape. Feature-detected: the attribute exists where the
# parameter does.
_TOLERANT_METADATA: dict[str, Any] = (
    {"metadata_errors": "replace"} if hasattr(av.container.Container, "metadata_errors") else {}
)

# What opening, demuxing or decoding an untrusted file can raise: PyAV's errors (many of which
# are also OSError or ValueError), text decoding, and sizes or times PyAV cannot represent.
READ_ERRORS: tuple[type[Exception], ...] = (
    av.FFmpegError,
    OSError,
    UnicodeError,
    ValueError,
    OverflowError,
    IndexError,
    MemoryError,
)


def open_input(source: Path | str, **options: Any) -> InputContainer:
    """Open a video file (or stream URL) for reading; `options` are `av.open` keywords.

    Metadata that is not UTF-8 is decoded with replacement characters instead of failing.
    Raises what PyAV raises (one of READ_ERRORS) when the source cannot be opened.
    """
    container = av.open(str(source), mode="r", **_TOLERANT_METADATA, **options)
    return cast(InputContainer, container)


def as_fraction(value: object) -> Fraction | None:
    """A PyAV time base or rate as an exact Fraction, or None when it is unset.

    PyAV 13 gives a Fraction or None; PyAV 19 gives an `AVRational`, which is falsy when
    unset and whose arithmetic with another AVRational is approximated in 32 bits.
    """
    numerator = getattr(value, "numerator", None)
    denominator = getattr(value, "denominator", None)
    if not isinstance(numerator, int) or not isinstance(denominator, int) or denominator <= 0:
        return None
    if numerator == 0:
        return None
    return Fraction(numerator, denominator)


def frame_to_image(
    frame: av.VideoFrame, width: int, height: int, interpolation: str | None = None
) -> Image.Image:
    """A decoded frame scaled to `width` x `height` as a PIL image (swscale does the work;
    PyAV 19's stubs leave `to_image` untyped)."""
    options: dict[str, Any] = {"width": width, "height": height}
    if interpolation is not None:
        options["interpolation"] = interpolation
    image: Image.Image = cast(Any, frame).to_image(**options)
    return image


def probe_duration(path: Path) -> float | None:
    """Duration of a video file in seconds, or None when it cannot be read or holds no video
    (never raises for a bad file)."""
    try:
        with open_input(path) as container:
            if not container.streams.video:
                return None
            if container.duration is not None:
                return float(container.duration) / 1_000_000
            stream = container.streams.video[0]
            time_base = as_fraction(stream.time_base)
            if stream.duration is not None and time_base is not None:
                return float(stream.duration * time_base)
    except READ_ERRORS:
        return None
    return None


def keyframe_jpeg(path: Path, max_side: int = 1280, quality: int = 80) -> bytes:
    """A JPEG of the keyframe nearest the middle of the clip.

    Raises PermanentError naming the file when it holds no decodable video.
    """
    try:
        with open_input(path) as container:
            if not container.streams.video:
                raise PermanentError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            if container.duration and container.duration > 2_000_000:
                container.seek(container.duration // 2, backward=True, any_frame=False)
            for frame in container.decode(stream):
                width, height = frame.width, frame.height
                scale = min(1.0, max_side / max(width, height))
                out_w = max(2, int(width * scale) // 2 * 2)
                out_h = max(2, int(height * scale) // 2 * 2)
                image = frame_to_image(frame, out_w, out_h)
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=quality)
                return buffer.getvalue()
    except READ_ERRORS as err:
        raise PermanentError(f"cannot decode {path.name}: {err}") from err
    raise PermanentError(f"{path.name} holds no decodable frame")


def add_stream_like(container: OutputContainer, template: Stream) -> Any:
    """Add a stream to `container` with `template`'s codec parameters (for remuxing packets
    as they are, without re-encoding).

    PyAV 14 added `add_stream_from_template`; PyAV 19 removed `add_stream(template=...)`, the
    only way PyAV 13 knows. Feature-detected, so neither line's pin is fought.
    """
    from_template = getattr(container, "add_stream_from_template", None)
    if from_template is not None:
        return from_template(template)
    return cast(Any, container).add_stream(template=template)
