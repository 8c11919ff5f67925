"""The motion recorder: a keyframe-aligned pre-roll of the record stream, and motion clips.

Recording (`MotionRecorder`). The record stream's packets (video, and AAC audio; other audio
codecs cannot go into MP4 and are dropped) are kept in a ring buffer of whole GOPs (each starts
at a keyframe) covering at least `pre_roll_s`. On motion, a clip opens at the last keyframe at
least `pre_roll_s` before the first motion frame, the buffer is written and the live packets
follow (`writer.ClipWriter`, no re-encoding). The clip ends at the first packet more than
`post_roll_s` after the last motion; while motion continues it is split at the first keyframe
after `max_clip_s` (the next clip starts on that keyframe). Clips shorter than `min_clip_s` are
deleted. A clip is written under a hidden name (`.<name>.mp4.part`) and renamed when complete.
Video packets must be whole access units (`assembly.AccessUnitAssembler`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import av.error
from av.audio.stream import AudioStream
from av.packet import Packet
from av.video.stream import VideoStream

from ...media import as_fraction
from ...models import EVENT_KEY, Clip
from ...storage.local import safe_name
from .clock import monotonic_to_datetime
from .probe import MP4_AUDIO_CODECS
from .settings import DEFAULT_MAX_BUFFER_BYTES, SOURCE_TYPE, error_text
from .writer import ClipWriter, Entry

_LOGGER = logging.getLogger(__name__)

_PRE_ROLL_MARGIN_S = 0.5  # keep a little more than the pre-roll (detect/record stream skew)
# A video timestamp jump (seconds) that ends the clip being written.
_JUMP_BACK_S = 1.0
_JUMP_FORWARD_S = 10.0
_WRITE_RETRY_S = 10.0  # after a failed clip write, wait this long before trying again


@dataclass(slots=True, eq=False)
class _Gop:
    t: float
    entries: list[Entry]
    size: int


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
        to_datetime: Callable[[float], datetime] = monotonic_to_datetime,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
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
        self._writer: ClipWriter | None = None
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
        # The motion event the next clips belong to (set by the worker when motion starts;
        # each clip records the key it was opened with, continuations keep it).
        self.event_key: str | None = None

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

    def remove_stale_parts(self) -> None:
        """Delete this camera's unfinished clips left by a crash (an MP4 without index)."""
        pattern = re.compile(rf"\.{re.escape(self._prefix)}-\d{{8}}T\d{{9}}Z(-\d+)?\.mp4\.part")
        with contextlib.suppress(OSError), os.scandir(self.output_dir) as entries:
            for entry in entries:
                if pattern.fullmatch(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

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

    def _add(self, entry: Entry) -> list[Clip]:
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

    def _entry(self, packet: Packet[Any], t: float) -> Entry | None:
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
        return Entry(
            packet=packet,
            pts=pts,
            dts=dts,
            time_base=time_base,
            video=video,
            key=video and packet.is_keyframe,
            t=t,
            size=packet.size,
        )

    def _discontinuity(self, entry: Entry) -> bool:
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
            writer = ClipWriter(
                temp_path=temp,
                name=name,
                video=self._video,
                audio=self._audio,
                first=first,
                continuation=self._continuation,
            )
            writer.peak = self._pending_peak
            writer.motion_since = self._motion_since
            writer.event_key = self.event_key
            self._writer = writer
            for gop in gops:
                for entry in gop.entries:
                    writer.write(entry)
        except (av.error.FFmpegError, OSError) as err:
            self._fail(f"cannot write clip {name}: {error_text(err)}")

    def _write(self, entry: Entry) -> None:
        assert self._writer is not None
        try:
            self._writer.write(entry)
        except (av.error.FFmpegError, OSError) as err:
            self._fail(f"cannot write clip {self._writer.name}: {error_text(err)}")

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
            self.last_error = f"cannot finish clip {writer.name}: {error_text(err)}"
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

    def _clip(self, writer: ClipWriter, path: Path, duration: float) -> Clip:
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
        if writer.event_key is not None:
            metadata[EVENT_KEY] = writer.event_key
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
