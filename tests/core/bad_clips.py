"""A generated corpus of bad and odd video files, for the tests of every clip reader.

Each entry is an `OddClip`: a file made here from a real PyAV clip (`tests/core/video.py`) or
from plain bytes, and what a reader must do with it:

- `GOOD`: an odd but valid video (a title or track name in GBK as camera firmware writes it,
  a megabyte of metadata, Matroska or MPEG-TS named `.mp4`, a single frame): processed
  normally;
- `BAD`: not usable (zero bytes, random bytes, an HTML error page, truncated before the index,
  audio only, frames declaring a picture no decoder accepts): a clear typed error that names
  the file;
- `EITHER`: partly usable (a fragmented MP4 cut after some fragments, the last byte missing, a
  JPEG named `.mp4`, a sample description claiming 60000 x 60000, flipped payload bytes):
  processed normally or a typed error, never another exception and never a hang.

Nothing is committed: `build_corpus` writes the files into a folder (under 1 MB, well under a
second). `GrowingClip` writes a fragmented clip little by little from a thread, like an upload
that is still in progress.
"""

from __future__ import annotations

import io
import os
import random
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self, cast

import av
import av.audio.stream
import av.video.stream
import numpy as np
from PIL import Image

from custom_components.homesec_nvr.core.media import add_stream_like

from .video import ClipSpec, write_h264_clip

# The camera firmware case: a title written in GBK (not UTF-8).
GBK_TITLE = "前门摄像头 一号通道 录像".encode("gbk")
# The video track's handler name the MP4 muxer writes, and a GBK one of the same length.
HANDLER_NAME = b"VideoHandler"
GBK_HANDLER_NAME = "视频处理器一".encode("gbk")
HUGE_METADATA_CHARS = 1_000_000
# A picture size ffmpeg refuses before allocating anything ((w+128)*(h+128) > INT_MAX / 8).
HUGE_SIDE = 65_000
# Seconds of video in the source clips.
SECONDS = 2.0
FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class Expect(StrEnum):
    """What a reader must do with a corpus file."""

    GOOD = "good"
    BAD = "bad"
    EITHER = "either"


@dataclass(frozen=True, slots=True)
class OddClip:
    """One file of the corpus; `seconds` is how much video a GOOD clip holds."""

    name: str
    path: Path
    expect: Expect
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class _Sources:
    """The valid clips the odd ones are made from."""

    plain: Path  # H.264 in MP4, index (moov) at the end
    fragmented: Path  # the same packets as fragmented MP4 (as Frigate streams it)
    rng: random.Random


def remux(src: Path, dst: Path, fmt: str, *, title: str | None = None, **options: str) -> Path:
    """Copy the video packets of `src` into another container (no re-encoding)."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format=fmt, options=options) as out:
        if title is not None:
            out.metadata["title"] = title
        stream = source.streams.video[0]
        target = add_stream_like(out, stream)
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = target
            out.mux(packet)
    return dst


def _replace_once(path: Path, old: bytes, new: bytes) -> Path:
    """Patch bytes in place (same length, so no offset in the file moves)."""
    if len(old) != len(new):
        raise ValueError("a replacement must keep the length")
    data = path.read_bytes()
    if data.count(old) != 1:
        raise ValueError(f"{old!r} occurs {data.count(old)} times in {path.name}")
    path.write_bytes(data.replace(old, new))
    return path


def _gbk_title(fmt: str) -> Callable[[Path, _Sources], Path]:
    def build(dst: Path, src: _Sources) -> Path:
        placeholder = "T" * len(GBK_TITLE)
        remux(src.plain, dst, fmt, title=placeholder)
        return _replace_once(dst, placeholder.encode(), GBK_TITLE)

    return build


def _gbk_handler(dst: Path, src: _Sources) -> Path:
    dst.write_bytes(src.plain.read_bytes())
    return _replace_once(dst, HANDLER_NAME, GBK_HANDLER_NAME)


def _huge_metadata(dst: Path, src: _Sources) -> Path:
    return remux(src.plain, dst, "mp4", title="x" * HUGE_METADATA_CHARS)


def _container(fmt: str) -> Callable[[Path, _Sources], Path]:
    def build(dst: Path, src: _Sources) -> Path:
        return remux(src.plain, dst, fmt)

    return build


def _one_frame(dst: Path, _src: _Sources) -> Path:
    return write_h264_clip(dst, ClipSpec(seconds=1 / 15))


def _copy_of(which: str) -> Callable[[Path, _Sources], Path]:
    def build(dst: Path, src: _Sources) -> Path:
        dst.write_bytes(getattr(src, which).read_bytes())
        return dst

    return build


def _bytes(data: bytes | Callable[[_Sources], bytes]) -> Callable[[Path, _Sources], Path]:
    def build(dst: Path, src: _Sources) -> Path:
        dst.write_bytes(data(src) if callable(data) else data)
        return dst

    return build


def _audio_only(dst: Path, _src: _Sources) -> Path:
    """One second of AAC silence in an MP4: no video stream at all."""
    with av.open(str(dst), "w", format="mp4") as out:
        stream = cast(av.audio.stream.AudioStream, out.add_stream("aac", rate=16000))
        samples = np.zeros((1, 1024), dtype=np.float32)
        for index in range(16):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = index * 1024
            frame.time_base = Fraction(1, 16000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def jpeg_bytes(width: int = 32, height: int = 16) -> bytes:
    """A small real JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _patch_sof(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOF0) declaring another picture size."""
    marker = jpeg.find(b"\xff\xc0")
    if marker < 0:
        raise ValueError("no SOF0 marker")
    start = marker + 5  # marker (2), length (2), precision (1)
    return jpeg[:start] + struct.pack(">HH", height, width) + jpeg[start + 4 :]


def _huge_declared_picture(dst: Path, _src: _Sources) -> Path:
    """Motion-JPEG frames whose headers declare 65000 x 65000 (a few hundred bytes each),
    muxed as they are into Matroska."""
    frame = _patch_sof(jpeg_bytes(), HUGE_SIDE, HUGE_SIDE)
    with av.open(str(dst), "w", format="matroska") as out:
        stream = cast(av.video.stream.VideoStream, out.add_stream("mjpeg", rate=5))
        stream.width, stream.height = 32, 16
        stream.pix_fmt = "yuvj420p"
        stream.time_base = Fraction(1, 5)
        for index in range(10):
            packet = av.Packet(frame)
            packet.stream = stream
            packet.pts = packet.dts = index
            packet.time_base = Fraction(1, 5)
            out.mux(packet)
    return dst


def _declares_huge(dst: Path, src: _Sources) -> Path:
    """The plain clip with its sample description claiming 60000 x 60000 (the H.264 stream
    itself says 160 x 96)."""
    data = bytearray(src.plain.read_bytes())
    avc1 = data.find(b"avc1")
    if avc1 < 0:
        raise ValueError("no avc1 sample entry")
    # VisualSampleEntry after the 'avc1' type: reserved (6), index (2), pre_defined (16).
    offset = avc1 + 4 + 6 + 2 + 16
    data[offset : offset + 4] = struct.pack(">HH", 60000, 60000)
    dst.write_bytes(bytes(data))
    return dst


def _truncated(fraction: float) -> Callable[[Path, _Sources], Path]:
    """The plain clip cut at `fraction` of its media data (always before its index)."""

    def build(dst: Path, src: _Sources) -> Path:
        data = src.plain.read_bytes()
        moov = data.find(b"moov")
        cut = max(1, int(moov * fraction))
        dst.write_bytes(data[:cut])
        return dst

    return build


def _truncated_in_index(dst: Path, src: _Sources) -> Path:
    data = src.plain.read_bytes()
    dst.write_bytes(data[: data.find(b"moov") + 40])
    return dst


def _fragmented_cut(fraction: float) -> Callable[[Path, _Sources], Path]:
    def build(dst: Path, src: _Sources) -> Path:
        data = src.fragmented.read_bytes()
        dst.write_bytes(data[: max(1, int(len(data) * fraction))])
        return dst

    return build


def _corrupt_payload(dst: Path, src: _Sources) -> Path:
    data = bytearray(src.plain.read_bytes())
    moov = data.find(b"moov")
    for _ in range(40):
        data[src.rng.randrange(64, moov)] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def _random_bytes(src: _Sources) -> bytes:
    return src.rng.randbytes(64 * 1024)


def _last_byte_missing(src: _Sources) -> bytes:
    return src.plain.read_bytes()[:-1]


_HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n" * 20

G, B, E = Expect.GOOD, Expect.BAD, Expect.EITHER
# name, expectation, seconds of video (GOOD), builder
ENTRIES: tuple[tuple[str, Expect, float | None, Callable[[Path, _Sources], Path]], ...] = (
    ("plain", G, SECONDS, _copy_of("plain")),
    ("fragmented", G, SECONDS, _copy_of("fragmented")),
    ("gbk-title", G, SECONDS, _gbk_title("mp4")),
    ("gbk-title-matroska", G, SECONDS, _gbk_title("matroska")),
    ("gbk-handler-name", G, SECONDS, _gbk_handler),
    ("huge-metadata", G, SECONDS, _huge_metadata),
    ("matroska-named-mp4", G, SECONDS, _container("matroska")),
    ("mpegts-named-mp4", G, SECONDS, _container("mpegts")),
    ("one-frame", G, None, _one_frame),
    ("zero-bytes", B, None, _bytes(b"")),
    ("random-bytes", B, None, _bytes(_random_bytes)),
    ("html-named-mp4", B, None, _bytes(_HTML)),
    ("audio-only", B, None, _audio_only),
    ("huge-declared-picture", B, None, _huge_declared_picture),
    *(
        (f"truncated-at-{fraction}", B, None, _truncated(fraction))
        for fraction in (0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.95, 0.999)
    ),
    ("truncated-in-index", B, None, _truncated_in_index),
    ("last-byte-missing", E, None, _bytes(_last_byte_missing)),
    *(
        (f"fragmented-cut-at-{fraction}", E, None, _fragmented_cut(fraction))
        for fraction in (0.002, 0.05, 0.3, 0.6, 0.95)
    ),
    ("jpeg-named-mp4", E, None, _bytes(lambda _src: jpeg_bytes())),
    ("declares-huge-picture", E, None, _declares_huge),
    ("corrupt-payload", E, None, _corrupt_payload),
)
CORPUS_NAMES: tuple[str, ...] = tuple(entry[0] for entry in ENTRIES)


def build_corpus(folder: Path) -> dict[str, OddClip]:
    """Write every corpus file into `folder` (as `<name>.mp4`); return them by name."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / ".sources"
    staging.mkdir(exist_ok=True)
    # Texture noise makes the frames big enough to cut the media data at many points.
    spec = ClipSpec(seconds=SECONDS, object_speed=20.0, noise=12)
    plain = write_h264_clip(staging / "plain.mp4", spec)
    fragmented = remux(plain, staging / "fragmented.mp4", "mp4", movflags=FRAGMENTED_MOVFLAGS)
    sources = _Sources(plain=plain, fragmented=fragmented, rng=random.Random(20261121))
    corpus: dict[str, OddClip] = {}
    for name, expect, seconds, build in ENTRIES:
        path = build(folder / f"{name}.mp4", sources)
        corpus[name] = OddClip(name, path, expect, seconds)
    return corpus


class GrowingClip:
    """A fragmented MP4 written into `path` a chunk at a time from a thread.

    A context manager: the writer starts on enter and is stopped (and joined) on exit. `done`
    is set once the whole clip is written.
    """

    def __init__(
        self,
        path: Path,
        *,
        chunk_bytes: int = 1024,
        interval_s: float = 0.01,
        seconds: float = SECONDS,
    ) -> None:
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.interval_s = interval_s
        self.done = threading.Event()
        self._stop = threading.Event()
        staging = path.parent / f".{path.name}.sources"
        staging.mkdir(parents=True, exist_ok=True)
        plain = write_h264_clip(
            staging / "plain.mp4", ClipSpec(seconds=seconds, object_speed=20.0, noise=12)
        )
        fragmented = remux(plain, staging / "frag.mp4", "mp4", movflags=FRAGMENTED_MOVFLAGS)
        self.data = fragmented.read_bytes()
        self._thread = threading.Thread(target=self._write, name="growing-clip", daemon=True)

    def _write(self) -> None:
        with self.path.open("ab") as handle:
            for offset in range(0, len(self.data), self.chunk_bytes):
                if self._stop.is_set():
                    return
                handle.write(self.data[offset : offset + self.chunk_bytes])
                handle.flush()
                os.fsync(handle.fileno())
                self._stop.wait(self.interval_s)
        self.done.set()

    def __enter__(self) -> Self:
        self.path.write_bytes(b"")
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
