"""RTSP camera source: motion detection on the stream, motion clips recorded without re-encoding.

Threading. Each camera has ONE worker thread (`threading.Thread`, not a daemon, joined by
`stop()`); PyAV never runs on the event loop. The worker opens the record stream (and the
detect stream when it is a different URL, for example a camera's sub stream), reads packets,
decodes what motion detection needs, keeps the pre-roll and writes clips. With two streams it
reads from the one that is behind in time, so both are drained in real time by one thread.
Results go back to the event loop only through `loop.call_soon_threadsafe` (motion and status
callbacks) and `asyncio.run_coroutine_threadsafe` (clip hand-over).

Connection. RTSP over TCP (`rtsp_transport=tcp`), socket timeout `stall_timeout_s`, one second
of stream analysis, and PyAV's interrupt timeouts: `open_timeout_s` for opening, and a short
read poll (at most 1 s) so the worker notices `stop()` within a second even when the camera
sends nothing. Nothing received for `stall_timeout_s` is a stall: the worker reconnects, with a
jittered exponential backoff (`reconnect_base_s` doubled per failed attempt up to
`reconnect_max_s`, times a random factor in [0.5, 1]). A session that streamed for 30 s resets
the backoff. Health: `connected`, `last_frame_time`, `last_error`, `reconnects`,
`unreachable_since` (set when the camera was lost or never reached, cleared on connection, so
the integration can raise a repair issue after a few minutes).

Motion. The detect stream's video is decoded at its own rate (H.264 and HEVC predict each frame
from earlier ones, so every reference frame must be decoded; only non-reference frames are
skipped, `skip_frame = NONREF`, with a single decoder thread). Frames are sampled by timestamp
at `detect_fps`; only sampled frames are scaled by swscale to `detect_width` grey pixels and
compared with the background (`motion.MotionDetector`). `motion_frames` consecutive motion
frames start motion; while a clip records, any motion frame extends it. The motion state
(`motion`, and the `on_motion(bool)` callback) turns off after `motion_off_delay_s` without
motion. When a separate detect URL is set, the record stream is never decoded.

Recording (`MotionRecorder`). The record stream's packets (video, and AAC audio; other audio
codecs cannot go into MP4 and are dropped) are kept in a ring buffer of whole GOPs (each starts
at a keyframe) covering at least `pre_roll_s`. On motion, a clip opens at the last keyframe at
least `pre_roll_s` before the first motion frame, the buffer is written and the live packets
follow; packets are remuxed into MP4 as they are (`media.add_stream_like`, no re-encoding).
The clip ends at the first packet more than `post_roll_s` after the last motion; while motion
continues it is split at the first keyframe after `max_clip_s` (the next clip starts on that
keyframe). Clips shorter than `min_clip_s` are deleted. A clip is written under a hidden name
(`.<name>.mp4.part`) and renamed when complete. Video packets first go through an
`AccessUnitAssembler`: FFmpeg's RTSP demuxer can split one frame into several packets (for
example a keyframe with several slices, each behind in-band SPS/PPS), which would give the
decoder half frames (false motion at every keyframe) and MP4 two samples for one frame.

Times. A stream's packet times are mapped onto `time.monotonic()`: the first packet is anchored
at the moment the stream was opened (a live stream starts "now"; the packets buffered while
the stream was being analysed keep their spacing), and the mapping follows the camera's clock
(drift, timestamp jumps) when it strays by more than a second. Clip start and end come from
the same mapping, so they are the camera's media times expressed in wall-clock time.

Hand-over. A finished clip is handed to `on_clip` on the event loop with
`run_coroutine_threadsafe` (bounded by `handover_timeout_s`), without blocking the worker; a
failed hand-over is retried with backoff (1 s doubling to 60 s) and the file is never deleted.
`stop()` finishes a clip in progress, joins the worker and hands over what is left; a clip that
still cannot be handed over stays on disk (logged with its path).

Secrets. Username and password are kept apart from the URLs and injected (percent-encoded) only
when opening; URLs in logs, errors and diagnostics go through `redact_url` and error texts
through `redact_text`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from ..interfaces import ClipCallback, ClipSource
from ..media import add_stream_like, as_fraction
from ..models import Clip
from ..storage.local import safe_name
from .motion import GreyScaler, MaskRect, MotionConfig, MotionDetector, MotionResult

_LOGGER = logging.getLogger(__name__)

SOURCE_TYPE = "rtsp"
# Video codecs a clip can be recorded in (remuxed into MP4), and audio codecs that MP4 takes.
RECORDABLE_VIDEO_CODECS: frozenset[str] = frozenset({"h264", "hevc"})
MP4_AUDIO_CODECS: frozenset[str] = frozenset({"aac"})
PROBE_REASONS: frozenset[str] = frozenset(
    {"cannot_connect", "auth_failed", "no_video_stream", "unsupported_codec"}
)

_READ_POLL_S = 1.0  # longest blocking read, so stop() is noticed within about a second
_ANALYZE_US = "1000000"  # stream analysis when opening (FFmpeg's default is 5 s)
_BACKOFF_RESET_S = 30.0  # a session that streamed this long resets the reconnect backoff
_HANDOVER_RETRY_MAX_S = 60.0
_HOUSEKEEPING_S = 0.25
_PRE_ROLL_MARGIN_S = 0.5  # keep a little more than the pre-roll (detect/record stream skew)
_DEFAULT_MAX_BUFFER_BYTES = 32 * 1024 * 1024
# Media clock: follow the camera when the mapping strays.
_CLOCK_AHEAD_S = 0.5
_CLOCK_JUMP_S = 5.0
_CLOCK_WINDOW_S = 10.0
_CLOCK_MAX_LAG_S = 1.0
# A video timestamp jump (seconds) that ends the clip being written.
_JUMP_BACK_S = 1.0
_JUMP_FORWARD_S = 10.0
_WRITE_RETRY_S = 10.0  # after a failed clip write, wait this long before trying again

_SECRET_QUERY_KEYS = ("pass", "pwd", "user", "token", "auth", "key", "secret", "sig")


# --------------------------------------------------------------------------------------------
# URLs and secrets


def inject_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL with `username:password@` (percent-encoded) in place of any credentials in it.

    Without a username the URL is returned as it is (credentials typed into it are kept).
    """
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def redact_url(url: str) -> str:
    """The URL without credentials (user info removed, secret-looking query values hidden)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [
                (key, "REDACTED" if any(s in key.lower() for s in _SECRET_QUERY_KEYS) else value)
                for key, value in pairs
            ],
            safe="/:",
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str, urls: tuple[str, ...], secrets: tuple[str | None, ...]) -> str:
    """`text` with every URL replaced by its redacted form and every secret by `***`."""
    for url in sorted(urls, key=len, reverse=True):
        if url:
            text = text.replace(url, redact_url(url))
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


def _error_text(err: BaseException) -> str:
    """A short description of an error, without the URL PyAV puts into its messages."""
    if isinstance(err, av.error.ExitError):
        return "timed out"
    if isinstance(err, av.error.FFmpegError):
        return err.strerror or type(err).__name__
    return str(err) or type(err).__name__


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True, slots=True, repr=False)
class RtspSettings:
    """Everything an RTSP camera needs (times in seconds)."""

    record_url: str
    output_dir: Path
    detect_url: str | None = None
    username: str | None = None
    password: str | None = None
    detect_fps: float = 5.0
    detect_width: int = 320
    # Grey-level change (1..255) that makes a pixel count as changed: lower is more sensitive.
    motion_threshold: int = 25
    min_area_percent: float = 0.5
    masks: tuple[MaskRect, ...] = ()
    motion_frames: int = 2
    motion_off_delay_s: float = 2.0
    pre_roll_s: float = 3.0
    post_roll_s: float = 8.0
    max_clip_s: float = 60.0
    min_clip_s: float = 2.0
    open_timeout_s: float = 5.0
    stall_timeout_s: float = 10.0
    reconnect_base_s: float = 1.0
    reconnect_max_s: float = 60.0
    handover_timeout_s: float = 30.0
    max_buffer_bytes: int = _DEFAULT_MAX_BUFFER_BYTES

    def __post_init__(self) -> None:
        for url in (self.record_url, self.detect_url):
            if url is not None and urlsplit(url).scheme.lower() not in ("rtsp", "rtsps"):
                raise ValueError(f"not an rtsp:// URL: {redact_url(url)}")
        checks = (
            (0 < self.detect_fps <= 30, "detect_fps must be in (0, 30]"),
            (self.detect_width >= 16, "detect_width must be at least 16"),
            (self.motion_frames >= 1, "motion_frames must be at least 1"),
            (self.motion_off_delay_s >= 0, "motion_off_delay_s must not be negative"),
            (self.pre_roll_s >= 0 and self.post_roll_s >= 0, "pre/post roll must not be negative"),
            (0 <= self.min_clip_s < self.max_clip_s, "need 0 <= min_clip_s < max_clip_s"),
            (self.open_timeout_s > 0 and self.stall_timeout_s > 0, "timeouts must be positive"),
            (
                0 < self.reconnect_base_s <= self.reconnect_max_s,
                "need 0 < reconnect_base_s <= reconnect_max_s",
            ),
            (self.handover_timeout_s > 0, "handover_timeout_s must be positive"),
            (self.max_buffer_bytes > 0, "max_buffer_bytes must be positive"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        # Validates threshold and area.
        self.motion_config()

    def __repr__(self) -> str:
        detect = redact_url(self.detect_url) if self.detect_url else None
        return (
            f"RtspSettings(record_url={redact_url(self.record_url)!r}, detect_url={detect!r}, "
            f"output_dir={str(self.output_dir)!r}, detect_fps={self.detect_fps}, "
            f"pre_roll_s={self.pre_roll_s}, post_roll_s={self.post_roll_s})"
        )

    @property
    def separate_detect(self) -> bool:
        """True when motion is detected on another stream than the recorded one."""
        return bool(self.detect_url) and self.detect_url != self.record_url

    def record_source(self) -> str:
        """The record URL with credentials (for opening only: never log it)."""
        return inject_credentials(self.record_url, self.username, self.password)

    def detect_source(self) -> str:
        """The detect URL with credentials (for opening only: never log it)."""
        return inject_credentials(self.detect_url or self.record_url, self.username, self.password)

    def redacted_url(self, *, detect: bool = False) -> str:
        """The record (or detect) URL, safe to show."""
        return redact_url((self.detect_url or self.record_url) if detect else self.record_url)

    def redact(self, text: str) -> str:
        """`text` with this camera's URLs and credentials hidden."""
        urls = (self.record_url, self.detect_url or "", self.record_source(), self.detect_source())
        return redact_text(text, urls, (self.password,))

    def motion_config(self) -> MotionConfig:
        """The motion detector's settings."""
        return MotionConfig(
            threshold=self.motion_threshold,
            min_area_percent=self.min_area_percent,
            masks=tuple(self.masks),
        )


def _open_options(stall_timeout_s: float, *, video_only: bool) -> dict[str, str]:
    options = {
        "rtsp_transport": "tcp",
        # Socket I/O timeout in microseconds (FFmpeg >= 5; `stimeout` before).
        "timeout": str(int(stall_timeout_s * 1_000_000)),
        "analyzeduration": _ANALYZE_US,
    }
    if video_only:
        options["allowed_media_types"] = "video"
    return options


# --------------------------------------------------------------------------------------------
# Probe (config flow)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a camera stream holds."""

    video_codec: str
    width: int
    height: int
    fps: float | None
    audio_codec: str | None

    @property
    def audio_recorded(self) -> bool:
        """True when the audio can go into the MP4 clips (it is dropped otherwise)."""
        return self.audio_codec in MP4_AUDIO_CODECS

    def to_dict(self) -> dict[str, Any]:
        """Serialise (diagnostics, config flow placeholders)."""
        return {
            "video_codec": self.video_codec,
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 2) if self.fps else None,
            "audio_codec": self.audio_codec,
            "audio_recorded": self.audio_recorded,
        }


class RtspProbeError(Exception):
    """A stream cannot be used. `reason` is one of PROBE_REASONS (config-flow error keys).

    `cannot_connect` covers refused or timed-out connections, unknown hosts, and a path the
    server does not know (RTSP 404, which GStreamer's server and most cameras answer for a
    wrong path); `auth_failed` covers 401 and 403. `detail` is a redacted explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _probe_reason(err: BaseException) -> tuple[str, str]:
    if isinstance(err, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "auth_failed", _error_text(err)
    if isinstance(err, av.error.HTTPNotFoundError):
        return "cannot_connect", "stream path not found (404)"
    return "cannot_connect", _error_text(err)


def _stream_info(container: InputContainer) -> StreamInfo:
    if not container.streams.video:
        raise RtspProbeError("no_video_stream", "the stream has no video")
    video = container.streams.video[0]
    codec = video.codec_context.name
    audio = next(iter(container.streams.audio), None)
    rate = video.average_rate or video.guessed_rate
    return StreamInfo(
        video_codec=codec,
        width=video.codec_context.width,
        height=video.codec_context.height,
        fps=float(rate) if rate else None,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def _probe_blocking(source: str, timeout_s: float, redact: Callable[[str], str]) -> StreamInfo:
    try:
        container = av.open(
            source,
            options=_open_options(timeout_s, video_only=False),
            timeout=(timeout_s, timeout_s),
        )
    except (av.error.FFmpegError, OSError) as err:
        reason, detail = _probe_reason(err)
        raise RtspProbeError(reason, redact(detail)) from None
    try:
        info = _stream_info(container)
    finally:
        container.close()
    if info.video_codec not in RECORDABLE_VIDEO_CODECS:
        raise RtspProbeError(
            "unsupported_codec",
            f"video codec {info.video_codec} cannot be recorded (need H.264 or H.265)",
        )
    return info


async def probe_stream(
    url: str, username: str | None, password: str | None, timeout_s: float = 10.0
) -> StreamInfo:
    """Open a stream once and describe it (for the config flow's test-before-configure).

    Runs PyAV in the loop's executor. Raises RtspProbeError with a reason in PROBE_REASONS.
    """
    if urlsplit(url).scheme.lower() not in ("rtsp", "rtsps"):
        raise RtspProbeError("cannot_connect", "not an rtsp:// URL")
    source = inject_credentials(url, username, password)

    def redact(text: str) -> str:
        return redact_text(text, (url, source), (password,))

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _probe_blocking, source, timeout_s, redact)


# --------------------------------------------------------------------------------------------
# Recording


class _MediaClock:
    """Maps a stream's media time (seconds) onto time.monotonic()."""

    def __init__(self, anchor: float) -> None:
        self._anchor = anchor
        self._offset: float | None = None
        self._window_start = anchor
        self._window_lag = math.inf

    def map(self, media_s: float, arrival: float) -> float:
        """Map a packet's time, learning from its arrival."""
        if self._offset is None:
            self._offset = self._anchor - media_s
        mapped = media_s + self._offset
        lag = arrival - mapped
        if lag < -_CLOCK_AHEAD_S or lag > _CLOCK_JUMP_S:
            # Ahead of real time (fast camera clock, jump forward) or a jump backwards.
            self._offset = arrival - media_s
            self._window_start, self._window_lag = arrival, math.inf
            return arrival
        self._window_lag = min(self._window_lag, lag)
        if arrival - self._window_start >= _CLOCK_WINDOW_S:
            if self._window_lag > _CLOCK_MAX_LAG_S:
                # Every packet of the window arrived late: the camera's clock is slow.
                self._offset += self._window_lag
                mapped += self._window_lag
            self._window_start, self._window_lag = arrival, math.inf
        return mapped

    def peek(self, media_s: float) -> float:
        """Map a time without learning (decoded frames)."""
        return media_s + (self._offset if self._offset is not None else self._anchor - media_s)


@dataclass(slots=True, eq=False)
class _Entry:
    packet: Packet[Any]
    pts: int
    dts: int
    time_base: Fraction
    video: bool
    key: bool
    t: float
    size: int


@dataclass(slots=True, eq=False)
class _Gop:
    t: float
    entries: list[_Entry]
    size: int


def _joined(data: bytes, stamps: Packet[Any]) -> Packet[Any]:
    """A new packet holding `data`, with the timestamps and stream of `stamps`."""
    packet = Packet(data)
    packet.stream = stamps.stream
    packet.time_base = stamps.time_base
    packet.pts = stamps.pts
    packet.dts = stamps.dts
    return packet


class AccessUnitAssembler:
    """Turns a demuxer's video packets into whole access units (one packet per frame).

    RTSP demuxing can split one frame into several packets with the same timestamp (a keyframe
    with several slices, each behind its own SPS/PPS: a decoder would see half frames and MP4
    needs one sample per frame), so such packets are joined; this delays video by one packet.
    A keyframe part without timestamps (FFmpeg gives the first packet of a session so) is put
    in front of the next packet when that is a keyframe too (the rest of the same frame), or
    else takes the timestamps of the frame before the next packet.
    """

    def __init__(self, stream: VideoStream) -> None:
        self._stream = stream
        self._pending: tuple[Packet[Any], float] | None = None
        self._orphan: Packet[Any] | None = None

    def push(self, packet: Packet[Any], t: float) -> list[tuple[Packet[Any], float]]:
        """Add a video packet (time `t`); return the access units now complete, in order."""
        if packet.size <= 0:
            return []
        dts = _packet_dts(packet)
        if dts is None:
            self._orphan = packet if packet.is_keyframe else None
            return []
        orphan, self._orphan = self._orphan, None
        if orphan is not None and packet.is_keyframe:
            packet = _joined(bytes(orphan) + bytes(packet), packet)
            packet.is_keyframe = True
        pending = self._pending
        if pending is not None and dts == _packet_dts(pending[0]):
            joined = _joined(bytes(pending[0]) + bytes(packet), pending[0])
            joined.is_keyframe = pending[0].is_keyframe or packet.is_keyframe
            self._pending = (joined, pending[1])
            return []
        self._pending = (packet, t)
        units = [pending] if pending is not None else []
        if orphan is not None and not packet.is_keyframe:
            before = self._before(orphan, packet, t)
            if before is not None:
                units.append(before)
        return units

    def flush(self) -> list[tuple[Packet[Any], float]]:
        """The access unit still held (end of the stream)."""
        pending, self._pending, self._orphan = self._pending, None, None
        return [pending] if pending is not None else []

    def _before(
        self, orphan: Packet[Any], following: Packet[Any], t: float
    ) -> tuple[Packet[Any], float] | None:
        rate = self._stream.average_rate or self._stream.guessed_rate
        dts = _packet_dts(following)
        if not rate or dts is None:
            return None
        step = round(1 / (rate * following.time_base))
        packet = _joined(bytes(orphan), following)
        packet.pts = (following.pts if following.pts is not None else dts) - step
        packet.dts = dts - step
        packet.is_keyframe = True
        return packet, t - float(step * following.time_base)


def _packet_dts(packet: Packet[Any]) -> int | None:
    dts = packet.dts
    return dts if dts is not None else packet.pts


def _monotonic_to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(time.time() - (time.monotonic() - t), tz=UTC)


class _ClipWriter:
    """One MP4 being written (remux)."""

    def __init__(
        self,
        *,
        temp_path: Path,
        name: str,
        video: VideoStream,
        audio: AudioStream | None,
        first: _Entry,
        continuation: bool,
    ) -> None:
        self.temp_path = temp_path
        self.name = name
        self.start_t = first.t
        self.end_t = first.t
        self.continuation = continuation
        self.peak = 0.0
        self.motion_since: float | None = None
        self.dropped = 0
        self.frames = 0
        self.audio_packets = 0
        self.bytes = 0
        self._origin = Fraction(first.dts) * first.time_base
        self._video_end = Fraction(0)
        self._frame_step = Fraction(0)
        self._last_dts: dict[bool, int] = {}
        self._offsets: dict[bool, int] = {}
        self.container: OutputContainer = av.open(str(temp_path), mode="w", format="mp4")
        try:
            self._out_video = add_stream_like(self.container, video)
            if video.codec_context.name == "hevc":
                # Apple players want hvc1 (parameter sets in the sample entry).
                self._out_video.codec_context.codec_tag = "hvc1"
            self._out_audio = add_stream_like(self.container, audio) if audio is not None else None
        except BaseException:
            self.container.close()
            raise

    def write(self, entry: _Entry) -> None:
        """Mux one packet (timestamps rebased to the clip's first keyframe)."""
        out = self._out_video if entry.video else self._out_audio
        if out is None:
            return
        offset = self._offsets.get(entry.video)
        if offset is None:
            offset = math.floor(self._origin / entry.time_base)
            self._offsets[entry.video] = offset
        pts, dts = entry.pts - offset, entry.dts - offset
        last = self._last_dts.get(entry.video)
        if pts < 0 or dts < 0 or (last is not None and dts <= last):
            self.dropped += 1
            return
        packet = entry.packet
        packet.stream = out
        packet.time_base = entry.time_base
        packet.pts = pts
        packet.dts = dts
        self.container.mux_one(packet)
        self._last_dts[entry.video] = dts
        self.bytes += entry.size
        self.end_t = max(self.end_t, entry.t)
        if entry.video:
            self.frames += 1
            pts_s = Fraction(pts) * entry.time_base
            if pts_s > self._video_end:
                if self.frames > 1:
                    self._frame_step = pts_s - self._video_end
                self._video_end = pts_s
        else:
            self.audio_packets += 1

    @property
    def duration_s(self) -> float:
        """Length of the video written so far (last frame included)."""
        return float(self._video_end + self._frame_step)

    def close(self) -> None:
        """Finish the file (write the index)."""
        self.container.close()


class MotionRecorder:
    """Keeps a keyframe-aligned pre-roll of a stream's packets and writes motion clips.

    Synchronous and thread-confined (the camera's worker thread), free of any network code: it
    is fed packets with their time (`t`, seconds on any monotonic scale shared with the motion
    marks) and returns the clips it finished, already renamed to their final name.
    """

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        output_dir: Path,
        pre_roll_s: float,
        post_roll_s: float,
        max_clip_s: float,
        min_clip_s: float,
        to_datetime: Callable[[float], datetime] = _monotonic_to_datetime,
        max_buffer_bytes: int = _DEFAULT_MAX_BUFFER_BYTES,
    ) -> None:
        self.camera_id = camera_id
        self.camera_name = camera_name
        self.output_dir = output_dir
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.max_clip_s = max_clip_s
        self.min_clip_s = min_clip_s
        self.max_buffer_bytes = max_buffer_bytes
        self._to_datetime = to_datetime
        self._prefix = safe_name(camera_id)
        self._gops: deque[_Gop] = deque()
        self._buffer_bytes = 0
        self._video: VideoStream | None = None
        self._audio: AudioStream | None = None
        self._writer: _ClipWriter | None = None
        self._last_motion_t: float | None = None
        self._motion_since: float | None = None
        self._pending_peak = 0.0
        self._pending_start = False
        self._continuation = False
        self._last_video_dts_s: float | None = None
        self._failed_at: float | None = None
        self.clips_written = 0
        self.clips_discarded = 0
        self.packets_dropped = 0
        self.last_error: str | None = None

    # -- state

    @property
    def recording(self) -> bool:
        """True while a clip is being written."""
        return self._writer is not None

    @property
    def buffered_s(self) -> float:
        """Time covered by the pre-roll buffer (safe to read from another thread)."""
        try:
            first, last = self._gops[0].t, self._gops[-1].entries[-1].t
        except IndexError:
            return 0.0
        return max(0.0, last - first)

    @property
    def buffered_bytes(self) -> int:
        """Bytes held by the pre-roll buffer."""
        return self._buffer_bytes

    def open(self, video: VideoStream, audio: AudioStream | None) -> None:
        """Start a new session on these streams (the buffer starts empty).

        Audio is recorded only when its codec fits MP4 (AAC); otherwise it is dropped.
        """
        self._clear_buffer()
        self._video = video
        self._audio = (
            audio if audio is not None and audio.codec_context.name in MP4_AUDIO_CODECS else None
        )
        self._last_video_dts_s = None

    def close(self) -> list[Clip]:
        """End of the session (disconnect, stop): finish the clip being written."""
        clips = self._finish()
        self._pending_start = False
        self._last_motion_t = None
        self._motion_since = None
        self._clear_buffer()
        return clips

    # -- input

    def mark_motion(self, t: float, score: float, since: float | None = None) -> None:
        """Motion seen at `t` (score in percent); `since` is when this motion began."""
        self._last_motion_t = t if self._last_motion_t is None else max(self._last_motion_t, t)
        if self._writer is not None:
            self._writer.peak = max(self._writer.peak, score)
            return
        self._pending_peak = max(self._pending_peak, score)
        if self._failed_at is not None and t - self._failed_at < _WRITE_RETRY_S:
            return
        if self._motion_since is None:
            self._motion_since = since if since is not None else t
        if not self._pending_start:
            self._start_from_buffer(self._motion_since)

    def add_packet(self, packet: Packet[Any], t: float) -> list[Clip]:
        """Buffer (and, while recording, write) one packet of the record stream.

        Video packets must be whole access units, one per frame (`AccessUnitAssembler`).
        """
        if packet.size <= 0:
            return []
        entry = self._entry(packet, t)
        if entry is None:
            return []
        return self._add(entry)

    def _add(self, entry: _Entry) -> list[Clip]:
        t = entry.t
        clips: list[Clip] = []
        if entry.video and self._discontinuity(entry):
            clips.extend(self._finish(resume=True))
            self._clear_buffer()
        started = False
        if entry.key:
            if (
                self._writer is not None
                and not self._post_roll_over(t)
                and t - self._writer.start_t >= self.max_clip_s
            ):
                clips.extend(self._finish(resume=True, continuation=True))
            self._gops.append(_Gop(t, [entry], entry.size))
            self._buffer_bytes += entry.size
            self._trim(t)
            if self._pending_start and self._writer is None:
                self._pending_start = False
                if self._last_motion_t is not None and not self._post_roll_over(t):
                    self._open_writer([self._gops[-1]])
                    started = True
                else:
                    self._reset_motion()
        elif self._gops:
            gop = self._gops[-1]
            gop.entries.append(entry)
            gop.size += entry.size
            self._buffer_bytes += entry.size
            self._trim(t)
        else:
            return clips  # nothing is kept before the first keyframe
        if self._writer is not None and not started:
            # Only video ends a clip (audio runs up to one video frame ahead of the delayed
            # video packets).
            if entry.video and self._post_roll_over(t):
                clips.extend(self._finish())
            else:
                self._write(entry)
        return clips

    # -- internals

    def _entry(self, packet: Packet[Any], t: float) -> _Entry | None:
        index = packet.stream.index
        if self._video is not None and index == self._video.index:
            video = True
        elif self._audio is not None and index == self._audio.index:
            video = False
        else:
            return None
        pts, dts = packet.pts, packet.dts
        time_base = as_fraction(packet.time_base)
        if (pts is None and dts is None) or time_base is None:
            return None
        pts = pts if pts is not None else cast(int, dts)
        dts = dts if dts is not None else pts
        return _Entry(
            packet=packet,
            pts=pts,
            dts=dts,
            time_base=time_base,
            video=video,
            key=video and packet.is_keyframe,
            t=t,
            size=packet.size,
        )

    def _discontinuity(self, entry: _Entry) -> bool:
        dts_s = float(entry.dts * entry.time_base)
        last, self._last_video_dts_s = self._last_video_dts_s, dts_s
        if last is None:
            return False
        jumped = dts_s < last - _JUMP_BACK_S or dts_s > last + _JUMP_FORWARD_S
        if jumped:
            _LOGGER.debug(
                "Camera %s: video timestamps jumped by %.1f s", self.camera_name, dts_s - last
            )
        return jumped

    def _post_roll_over(self, t: float) -> bool:
        return self._last_motion_t is None or t - self._last_motion_t > self.post_roll_s + 1e-6

    def _trim(self, now: float) -> None:
        keep_from = now - self.pre_roll_s - _PRE_ROLL_MARGIN_S
        while len(self._gops) > 1 and self._gops[1].t <= keep_from:
            self._buffer_bytes -= self._gops.popleft().size
        if self._buffer_bytes > self.max_buffer_bytes:
            self._trim_bytes()

    def _trim_bytes(self) -> None:
        while self._buffer_bytes > self.max_buffer_bytes and len(self._gops) > 1:
            self._buffer_bytes -= self._gops.popleft().size
        if self._buffer_bytes > self.max_buffer_bytes:
            # One GOP larger than the whole budget: drop it and wait for the next keyframe.
            self.last_error = "keyframes too rare: pre-roll buffer over its memory budget"
            self._clear_buffer()

    def _clear_buffer(self) -> None:
        self._gops.clear()
        self._buffer_bytes = 0

    def _reset_motion(self) -> None:
        self._motion_since = None
        self._pending_peak = 0.0
        self._continuation = False

    def _start_from_buffer(self, since: float) -> None:
        if not self._gops:
            self._pending_start = True
            return
        start = 0
        target = since - self.pre_roll_s
        for index, gop in enumerate(self._gops):
            if gop.t <= target + 1e-6:
                start = index
            else:
                break
        self._open_writer(list(self._gops)[start:])

    def _open_writer(self, gops: list[_Gop]) -> None:
        assert self._video is not None
        first = gops[0].entries[0]
        start_ts = self._to_datetime(first.t)
        name = self._unique_name(start_ts)
        temp = self.output_dir / f".{name}.mp4.part"
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            writer = _ClipWriter(
                temp_path=temp,
                name=name,
                video=self._video,
                audio=self._audio,
                first=first,
                continuation=self._continuation,
            )
            writer.peak = self._pending_peak
            writer.motion_since = self._motion_since
            self._writer = writer
            for gop in gops:
                for entry in gop.entries:
                    writer.write(entry)
        except (av.error.FFmpegError, OSError) as err:
            self._fail(f"cannot write clip {name}: {_error_text(err)}")

    def _write(self, entry: _Entry) -> None:
        assert self._writer is not None
        try:
            self._writer.write(entry)
        except (av.error.FFmpegError, OSError) as err:
            self._fail(f"cannot write clip {self._writer.name}: {_error_text(err)}")

    def _fail(self, message: str) -> None:
        writer, self._writer = self._writer, None
        self.last_error = message
        self._failed_at = self._last_motion_t
        _LOGGER.warning("Camera %s: %s", self.camera_name, message)
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
            with contextlib.suppress(OSError):
                writer.temp_path.unlink()
        self._reset_motion()

    def _unique_name(self, start: datetime) -> str:
        utc = start.astimezone(UTC)
        base = f"{self._prefix}-{utc:%Y%m%dT%H%M%S}{utc.microsecond // 1000:03d}Z"
        name, counter = base, 1
        while (self.output_dir / f"{name}.mp4").exists():
            name = f"{base}-{counter}"
            counter += 1
        return name

    def _finish(self, *, resume: bool = False, continuation: bool = False) -> list[Clip]:
        """Close the clip being written; keep it when long enough. With `resume`, the next
        keyframe starts a new clip if motion is still recent."""
        writer, self._writer = self._writer, None
        if writer is None:
            return []
        self.packets_dropped += writer.dropped
        if resume and self._last_motion_t is not None:
            self._pending_start = True
            self._continuation = continuation
            self._motion_since = None
            self._pending_peak = 0.0
        else:
            self._reset_motion()
        try:
            writer.close()
        except (av.error.FFmpegError, OSError) as err:
            self.last_error = f"cannot finish clip {writer.name}: {_error_text(err)}"
            _LOGGER.warning("Camera %s: %s", self.camera_name, self.last_error)
            with contextlib.suppress(OSError):
                writer.temp_path.unlink()
            return []
        duration = writer.duration_s
        if writer.frames == 0 or duration < self.min_clip_s:
            self.clips_discarded += 1
            _LOGGER.debug(
                "Camera %s: clip %s discarded (%.1f s < %.1f s)",
                self.camera_name,
                writer.name,
                duration,
                self.min_clip_s,
            )
            with contextlib.suppress(OSError):
                writer.temp_path.unlink()
            return []
        final = self.output_dir / f"{writer.name}.mp4"
        try:
            os.replace(writer.temp_path, final)
        except OSError as err:
            self.last_error = f"cannot rename clip {writer.name}: {err.strerror or err}"
            _LOGGER.warning("Camera %s: %s", self.camera_name, self.last_error)
            return []
        self.clips_written += 1
        return [self._clip(writer, final, duration)]

    def _clip(self, writer: _ClipWriter, path: Path, duration: float) -> Clip:
        assert self._video is not None
        start_ts = self._to_datetime(writer.start_t)
        video_ctx = self._video.codec_context
        metadata: dict[str, Any] = {
            "duration_s": round(duration, 3),
            "motion_score_peak": round(writer.peak, 2),
            "pre_roll_s": (
                round(max(0.0, writer.motion_since - writer.start_t), 3)
                if writer.motion_since is not None
                else 0.0
            ),
            "continuation": writer.continuation,
            "video_codec": video_ctx.name,
            "width": video_ctx.width,
            "height": video_ctx.height,
            "audio_codec": (
                self._audio.codec_context.name
                if self._audio is not None and writer.audio_packets
                else None
            ),
            "frames": writer.frames,
            "size_bytes": writer.bytes,
        }
        return Clip(
            clip_id=writer.name,
            camera_id=self.camera_id,
            camera_name=self.camera_name,
            source_type=SOURCE_TYPE,
            path=path,
            start_ts=start_ts,
            end_ts=start_ts + timedelta(seconds=duration),
            metadata=metadata,
        )


# --------------------------------------------------------------------------------------------
# The source


class _StreamError(Exception):
    """The session ended (end of stream, stall, unusable stream)."""


@dataclass(slots=True, eq=False)
class _Input:
    container: InputContainer
    video: VideoStream
    audio: AudioStream | None
    record: bool
    detect: bool
    clock: _MediaClock
    opened_at: float
    assembler: AccessUnitAssembler
    packets: Iterator[Packet[Any]] | None = None
    last_t: float = -math.inf
    last_packet: float = 0.0
    keyframe_seen: bool = False
    next_detect: float = -math.inf

    def streams(self) -> tuple[VideoStream | AudioStream, ...]:
        if self.record and self.audio is not None:
            return (self.video, self.audio)
        return (self.video,)


@dataclass(slots=True, eq=False)
class _Handover:
    clip: Clip
    attempts: int = 0
    next_try: float = 0.0
    future: Any = None  # concurrent.futures.Future[None] while on its way


class RtspSource(ClipSource):
    """Records motion clips from an RTSP camera (one worker thread per camera).

    For the Home Assistant glue: `on_motion(bool)` and `on_status()` are called on the event
    loop (thread-safe hand-off) when the motion state or the connection state changes; read the
    health attributes (`connected`, `motion`, `last_frame_time`, `last_error`, `reconnects`,
    `unreachable_since`) or `diagnostics()` from the event loop at any time.
    """

    source_type = SOURCE_TYPE

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        settings: RtspSettings,
        on_motion: Callable[[bool], None] | None = None,
        on_status: Callable[[], None] | None = None,
    ) -> None:
        self._camera_id = camera_id
        self._camera_name = camera_name
        self.settings = settings
        self._on_motion = on_motion
        self._on_status = on_status
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_clip: ClipCallback | None = None
        self._thread: threading.Thread | None = None
        self._done = asyncio.Event()
        self._stop_event = threading.Event()
        self._outbox: list[_Handover] = []
        self._detector = MotionDetector(settings.motion_config())
        self._scaler = GreyScaler(settings.detect_width)
        self._recorder = MotionRecorder(
            camera_id=camera_id,
            camera_name=camera_name,
            output_dir=settings.output_dir,
            pre_roll_s=settings.pre_roll_s,
            post_roll_s=settings.post_roll_s,
            max_clip_s=settings.max_clip_s,
            min_clip_s=settings.min_clip_s,
            max_buffer_bytes=settings.max_buffer_bytes,
        )
        self._run_start: float | None = None
        self._run_frames = 0
        self._last_motion_t = -math.inf
        self._last_packet_mono: float | None = None
        self._last_housekeeping = 0.0
        self._stream_info: StreamInfo | None = None
        self._detect_info: StreamInfo | None = None
        self._ever_connected = False
        # Health (written by the worker, read from the event loop).
        self.connected = False
        self.motion = False
        self.last_error: str | None = None
        self.reconnects = 0
        self.unreachable_since: datetime | None = None
        self.clips_emitted = 0
        self.frames_analyzed = 0
        self.decode_errors = 0
        self.last_motion_score = 0.0
        self.worker_cpu_s = 0.0

    # -- ClipSource

    async def start(self, on_clip: ClipCallback) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._loop = asyncio.get_running_loop()
        self._on_clip = on_clip
        self._stop_event.clear()
        self._done = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"homesec-rtsp-{self._camera_id}", daemon=False
        )
        self._thread.start()

    async def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stop_event.set()
        while thread.is_alive():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), 1.0)
        thread.join()
        self._thread = None
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks run
        await self._flush_outbox()

    def diagnostics(self) -> dict[str, Any]:
        recorder = self._recorder
        return {
            "record_url": self.settings.redacted_url(),
            "detect_url": (
                self.settings.redacted_url(detect=True) if self.settings.separate_detect else None
            ),
            "connected": self.connected,
            "motion": self.motion,
            "recording": recorder.recording,
            "last_frame_time": _iso(self.last_frame_time),
            "last_error": self.last_error,
            "reconnects": self.reconnects,
            "unreachable_since": _iso(self.unreachable_since),
            "stream": self._stream_info.to_dict() if self._stream_info else None,
            "detect_stream": self._detect_info.to_dict() if self._detect_info else None,
            "detect_size": list(self._scaler.size) if self._scaler.size else None,
            "frames_analyzed": self.frames_analyzed,
            "decode_errors": self.decode_errors,
            "last_motion_score": round(self.last_motion_score, 2),
            "pre_roll_buffer_s": round(recorder.buffered_s, 2),
            "pre_roll_buffer_bytes": recorder.buffered_bytes,
            "clips_emitted": self.clips_emitted,
            "clips_discarded": recorder.clips_discarded,
            "clips_pending_handover": len(self._outbox),
            "packets_dropped": recorder.packets_dropped,
            "recorder_error": recorder.last_error,
            "worker_cpu_s": round(self.worker_cpu_s, 3),
        }

    # -- health

    @property
    def stream_info(self) -> StreamInfo | None:
        """What the record stream holds (known once connected)."""
        return self._stream_info

    @property
    def healthy(self) -> bool:
        """True while the stream is connected."""
        return self.connected

    @property
    def last_frame_time(self) -> datetime | None:
        """Wall-clock time of the last video packet received."""
        last = self._last_packet_mono
        if last is None:
            return None
        return datetime.now(UTC) - timedelta(seconds=time.monotonic() - last)

    # -- worker thread

    def _run(self) -> None:
        attempt = 0
        try:
            self._remove_stale_parts()
            while not self._stop_event.is_set():
                try:
                    streamed = self._session()
                except Exception:  # a bug must not end the camera for good
                    _LOGGER.exception(
                        "Camera %s: unexpected error in the RTSP worker", self._camera_name
                    )
                    self._lost("internal error (see the log)")
                    streamed = 0.0
                if self._stop_event.is_set():
                    break
                attempt = 1 if streamed >= _BACKOFF_RESET_S else attempt + 1
                delay = min(
                    self.settings.reconnect_max_s,
                    self.settings.reconnect_base_s * 2 ** (attempt - 1),
                )
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
                _LOGGER.debug("Camera %s: reconnecting in %.1f s", self._camera_name, delay)
                if self._pause(delay):
                    break
        finally:
            self._set_motion(False)
            self._housekeeping(force=True)
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # loop closed
                    self._loop.call_soon_threadsafe(self._done.set)

    def _pause(self, delay: float) -> bool:
        """Wait (hand-overs keep being retried); True when stop was requested."""
        deadline = time.monotonic() + delay
        while True:
            self._housekeeping(force=True)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._stop_event.wait(min(remaining, _HOUSEKEEPING_S * 2)):
                return True

    def _session(self) -> float:
        """Connect, stream until the session ends; return how long media flowed (seconds)."""
        inputs: list[_Input] = []
        started: float | None = None
        try:
            inputs = self._open_inputs()
            record = next(i for i in inputs if i.record)
            self._recorder.open(record.video, record.audio)
            self._detector.reset()
            self._run_start, self._run_frames = None, 0
            started = time.monotonic()
            self._stream(inputs)
        except _StreamError as err:
            self._lost(str(err))
        except (av.error.FFmpegError, OSError) as err:
            self._lost(self.settings.redact(_error_text(err)))
        finally:
            for inp in inputs:
                if inp.record:
                    with contextlib.suppress(Exception):
                        for unit, unit_t in inp.assembler.flush():
                            self._record(unit, unit_t)
            self._outbox.extend(_Handover(clip) for clip in self._recorder.close())
            for inp in inputs:
                with contextlib.suppress(Exception):
                    inp.container.close()
            if self._stop_event.is_set() and self.connected:
                self.connected = False
                self._notify_status()
        return time.monotonic() - started if started is not None else 0.0

    def _open_inputs(self) -> list[_Input]:
        settings = self.settings
        inputs = [self._open_input(settings.record_source(), record=True)]
        if settings.separate_detect:
            try:
                inputs.append(self._open_input(settings.detect_source(), record=False))
            except BaseException:
                inputs[0].container.close()
                raise
        else:
            inputs[0].detect = True
        for inp in inputs:
            if inp.detect:
                context = inp.video.codec_context
                context.thread_count = 1
                context.skip_frame = "NONREF"
        return inputs

    def _open_input(self, source: str, *, record: bool) -> _Input:
        opened_at = time.monotonic()
        container = av.open(
            source,
            options=_open_options(self.settings.stall_timeout_s, video_only=not record),
            timeout=(
                self.settings.open_timeout_s,
                min(_READ_POLL_S, self.settings.stall_timeout_s),
            ),
        )
        try:
            if not container.streams.video:
                raise _StreamError("the stream has no video")
            info = _stream_info(container)
            if record and info.video_codec not in RECORDABLE_VIDEO_CODECS:
                raise _StreamError(f"video codec {info.video_codec} cannot be recorded")
            audio = next(iter(container.streams.audio), None) if record else None
            if record:
                self._stream_info = info
            else:
                self._detect_info = info
        except BaseException:
            container.close()
            raise
        return _Input(
            container=container,
            video=container.streams.video[0],
            audio=audio,
            record=record,
            detect=not record,
            clock=_MediaClock(opened_at),
            opened_at=opened_at,
            assembler=AccessUnitAssembler(container.streams.video[0]),
            last_packet=time.monotonic(),
        )

    def _stream(self, inputs: list[_Input]) -> None:
        stall = self.settings.stall_timeout_s
        while not self._stop_event.is_set():
            inp = inputs[0] if len(inputs) == 1 else min(inputs, key=_input_time)
            if inp.packets is None:
                inp.packets = inp.container.demux(*inp.streams())
            try:
                packet = next(inp.packets)
            except av.error.ExitError:
                # The read poll ran out: stop requested, or nothing arrived for a while.
                inp.packets = None
                idle = time.monotonic() - inp.last_packet
                if idle >= stall:
                    raise _StreamError(f"no data for {idle:.0f} s (stalled)") from None
                self._housekeeping()
                continue
            except StopIteration:
                raise _StreamError("end of stream") from None
            now = time.monotonic()
            inp.last_packet = now
            if packet.size > 0:
                self._packet(inp, packet, now)
            if now - self._last_housekeeping >= _HOUSEKEEPING_S:
                self._housekeeping()

    def _packet(self, inp: _Input, packet: Packet[Any], now: float) -> None:
        stamp = packet.dts
        if stamp is None:
            stamp = packet.pts
        if stamp is not None:
            t = inp.clock.map(float(stamp * packet.time_base), now)
            inp.last_t = t
        else:
            t = inp.last_t if inp.last_t > -math.inf else now
        if packet.stream.index != inp.video.index:
            if inp.record:
                self._record(packet, t)
            return
        self._last_packet_mono = now
        if not self.connected:
            self._connected()
        for unit, unit_t in inp.assembler.push(packet, t):
            if inp.detect:
                self._detect(inp, unit)
            if inp.record:
                self._record(unit, unit_t)

    def _record(self, packet: Packet[Any], t: float) -> None:
        clips = self._recorder.add_packet(packet, t)
        if clips:
            self._outbox.extend(_Handover(clip) for clip in clips)
            self._housekeeping(force=True)

    def _detect(self, inp: _Input, packet: Packet[Any]) -> None:
        if not inp.keyframe_seen:
            if not packet.is_keyframe:
                return
            inp.keyframe_seen = True
        try:
            frames = inp.video.codec_context.decode(packet)
        except av.error.FFmpegError:
            self.decode_errors += 1
            return
        period = 1.0 / self.settings.detect_fps
        for frame in frames:
            frame_time = cast(float | None, frame.time)  # None without a timestamp
            if frame_time is None:
                continue
            media_t = float(frame_time)
            if media_t < inp.next_detect - 0.25 * period:
                continue
            if media_t - inp.next_detect < period:
                inp.next_detect += period
            else:
                inp.next_detect = media_t + period
            result = self._detector.process(self._scaler(frame))
            self.frames_analyzed += 1
            self.last_motion_score = result.score
            self._motion_result(result, inp.clock.peek(media_t))

    def _motion_result(self, result: MotionResult, t: float) -> None:
        if not result.motion:
            self._run_start, self._run_frames = None, 0
            if self.motion and t - self._last_motion_t >= self.settings.motion_off_delay_s:
                self._set_motion(False)
            return
        if self._run_start is None:
            self._run_start = t
        self._run_frames += 1
        if self._recorder.recording or self._run_frames >= self.settings.motion_frames:
            self._last_motion_t = t
            self._recorder.mark_motion(t, result.score, since=self._run_start)
            if not self.motion:
                self._set_motion(True)

    # -- state changes (worker thread)

    def _connected(self) -> None:
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        if self.unreachable_since is not None:
            _LOGGER.info(
                "Camera %s: stream %s connected again",
                self._camera_name,
                self.settings.redacted_url(),
            )
        self.connected = True
        self.unreachable_since = None
        self.last_error = None
        self._notify_status()

    def _lost(self, error: str) -> None:
        was_connected = self.connected
        self.connected = False
        self.last_error = error
        self._set_motion(False)
        if self.unreachable_since is None:
            self.unreachable_since = datetime.now(UTC)
            _LOGGER.warning(
                "Camera %s: stream %s %s: %s",
                self._camera_name,
                self.settings.redacted_url(),
                "lost" if was_connected else "unavailable",
                error,
            )
        else:
            _LOGGER.debug("Camera %s: still unavailable: %s", self._camera_name, error)
        self._notify_status()

    def _set_motion(self, active: bool) -> None:
        if self.motion == active:
            return
        self.motion = active
        if not active:
            self._last_motion_t = -math.inf
        callback, loop = self._on_motion, self._loop
        if callback is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(callback, active)

    def _notify_status(self) -> None:
        callback, loop = self._on_status, self._loop
        if callback is not None and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback)

    def _housekeeping(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_housekeeping < _HOUSEKEEPING_S:
            return
        self._last_housekeeping = now
        self.worker_cpu_s = time.thread_time()
        if self.motion and now - self._last_motion_t >= self.settings.motion_off_delay_s + 1.0:
            # No detect frame said "no motion" (stream without frames): time it out.
            self._set_motion(False)
        self._service_outbox(now)

    def _service_outbox(self, now: float) -> None:
        loop = self._loop
        for item in list(self._outbox):
            future = item.future
            if future is not None:
                if not future.done():
                    continue
                item.future = None
                error = future.exception() if not future.cancelled() else "cancelled"
                if error is None:
                    self._outbox.remove(item)
                    self.clips_emitted += 1
                    continue
                self._handover_failed(item, error, now)
            if now < item.next_try or loop is None:
                continue
            try:
                item.future = asyncio.run_coroutine_threadsafe(self._deliver(item.clip), loop)
            except RuntimeError as err:  # loop closed
                self._handover_failed(item, err, now)

    def _handover_failed(self, item: _Handover, error: object, now: float) -> None:
        item.attempts += 1
        delay = min(_HANDOVER_RETRY_MAX_S, 2.0 ** (item.attempts - 1))
        item.next_try = now + delay
        self.last_error = f"could not hand over clip {item.clip.clip_id}: {error}"
        _LOGGER.warning(
            "Camera %s: could not hand over clip %s (attempt %d), retrying in %.0f s: %s",
            self._camera_name,
            item.clip.path,
            item.attempts,
            delay,
            error,
        )

    async def _deliver(self, clip: Clip) -> None:
        assert self._on_clip is not None
        async with asyncio.timeout(self.settings.handover_timeout_s):
            await self._on_clip(clip)

    async def _flush_outbox(self) -> None:
        """After the worker ended: wait for hand-overs on their way, retry failed ones once."""
        for item in list(self._outbox):
            if item.future is not None:
                try:
                    await asyncio.wait_for(
                        asyncio.wrap_future(item.future), self.settings.handover_timeout_s
                    )
                except Exception as err:  # noqa: BLE001 - retried below
                    _LOGGER.debug("Hand-over of %s failed: %s", item.clip.clip_id, err)
                else:
                    self._outbox.remove(item)
                    self.clips_emitted += 1
                    continue
            try:
                await self._deliver(item.clip)
            except Exception as err:  # noqa: BLE001 - the file stays on disk
                _LOGGER.error(
                    "Camera %s: clip %s could not be handed over and stays on disk: %s",
                    self._camera_name,
                    item.clip.path,
                    err,
                )
            else:
                self.clips_emitted += 1
            self._outbox.remove(item)

    def _remove_stale_parts(self) -> None:
        """Delete this camera's unfinished clips left by a crash (an MP4 without index)."""
        pattern = re.compile(
            rf"\.{re.escape(safe_name(self._camera_id))}-\d{{8}}T\d{{9}}Z(-\d+)?\.mp4\.part"
        )
        with contextlib.suppress(OSError), os.scandir(self.settings.output_dir) as entries:
            for entry in entries:
                if pattern.fullmatch(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _input_time(inp: _Input) -> float:
    return inp.last_t


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


__all__ = [
    "MP4_AUDIO_CODECS",
    "PROBE_REASONS",
    "RECORDABLE_VIDEO_CODECS",
    "SOURCE_TYPE",
    "AccessUnitAssembler",
    "MotionRecorder",
    "RtspProbeError",
    "RtspSettings",
    "RtspSource",
    "StreamInfo",
    "inject_credentials",
    "probe_stream",
    "redact_text",
    "redact_url",
]
