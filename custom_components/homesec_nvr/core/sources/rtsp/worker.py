"""One RTSP camera's worker thread: open the streams, reconnect, detect motion, record clips.

Threading. Each camera has ONE worker thread (`threading.Thread`, not a daemon, joined by
`stop()`); PyAV never runs on the event loop. The worker opens the record stream (and the
detect stream when it is a different URL, for example a camera's sub stream), reads packets,
decodes what motion detection needs, keeps the pre-roll and writes clips. With two streams it
reads from the one that is behind in time, so both are drained in real time by one thread.
Results go back to the event loop only through `loop.call_soon_threadsafe` (motion and status
callbacks) and `asyncio.run_coroutine_threadsafe` (clip hand-over, `outbox.ClipOutbox`).

Connection. Streams are opened with `probe.open_options` (RTSP over TCP, socket timeout
`stall_timeout_s`, one second of stream analysis) and PyAV's interrupt timeouts:
`open_timeout_s` for opening, and a short read poll (at most 1 s) so the worker notices
`stop()` within a second even when the camera sends nothing. Nothing received for
`stall_timeout_s` is a stall: the worker reconnects, with a jittered exponential backoff
(`reconnect_base_s` doubled per failed attempt up to `reconnect_max_s`, times a random factor
in [0.5, 1]). A session that streamed for 30 s resets the backoff. Health: `connected`,
`last_frame_time`, `last_error`, `reconnects`, `unreachable_since` (set when the camera was
lost or never reached, cleared on connection, so the integration can raise a repair issue
after a few minutes).

Motion. The detect stream's video is decoded at its own rate (H.264 and HEVC predict each frame
from earlier ones, so every reference frame must be decoded; only non-reference frames are
skipped, `skip_frame = NONREF`, with a single decoder thread). Frames are sampled by timestamp
at `detect_fps`; only sampled frames are scaled by swscale to `detect_width` grey pixels and
compared with the background (`motion.MotionDetector`). `motion_frames` consecutive motion
frames start motion; while a clip records, any motion frame extends it. The motion state
(`motion`, and the `on_motion(bool)` callback) turns off after `motion_off_delay_s` without
motion. When a separate detect URL is set, the record stream is never decoded. Packet and
frame times go through a `clock.MediaClock` per stream; video packets through an
`assembly.AccessUnitAssembler` before detection and recording (`recorder.MotionRecorder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.packet import Packet
from av.video.stream import VideoStream

from ...interfaces import ClipCallback
from ...media import open_input
from ..motion import GreyScaler, MotionDetector, MotionResult
from .assembly import AccessUnitAssembler
from .clock import MediaClock
from .live_detect import LiveDetector
from .outbox import ClipOutbox
from .probe import RECORDABLE_VIDEO_CODECS, StreamInfo, open_options, stream_info
from .recorder import MotionRecorder
from .settings import RtspSettings, error_text

_LOGGER = logging.getLogger(__name__)

_READ_POLL_S = 1.0  # longest blocking read, so stop() is noticed within about a second
_BACKOFF_RESET_S = 30.0  # a session that streamed this long resets the reconnect backoff
_HOUSEKEEPING_S = 0.25


class _StreamError(Exception):
    """The session ended (end of stream, stall, unusable stream)."""


@dataclass(slots=True, eq=False)
class _Input:
    container: InputContainer
    video: VideoStream
    audio: AudioStream | None
    record: bool
    detect: bool
    clock: MediaClock
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


class CameraWorker:
    """One camera's worker thread, and the health it reports.

    `start`, `stop` and `diagnostics` are called on the event loop; the rest runs on the
    worker thread. The health attributes are written by the worker and read from the event loop.
    """

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        settings: RtspSettings,
        on_motion: Callable[[bool], None] | None = None,
        on_status: Callable[[], None] | None = None,
        live: LiveDetector | None = None,
    ) -> None:
        self._live = live
        # The motion event under way: a new key when a motion run starts while nothing is
        # recorded; the clips recorded for it (continuations too) carry it.
        self._event_key: str | None = None
        self._camera_id = camera_id
        self._camera_name = camera_name
        self.settings = settings
        self._on_motion = on_motion
        self._on_status = on_status
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._done = asyncio.Event()
        self._stop_event = threading.Event()
        self._outbox = ClipOutbox(
            camera_name=camera_name,
            handover_timeout_s=settings.handover_timeout_s,
            on_failure=self._handover_failed,
        )
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
        self.frames_analyzed = 0
        self.decode_errors = 0
        self.last_motion_score = 0.0
        self.worker_cpu_s = 0.0
        self.internal_errors = 0

    # -- event loop

    def start(self, loop: asyncio.AbstractEventLoop, on_clip: ClipCallback) -> None:
        """Start the worker thread; finished clips are handed to `on_clip` on `loop`."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._loop = loop
        self._outbox.bind(loop, on_clip)
        self._stop_event.clear()
        self._done = asyncio.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"homesec-rtsp-{self._camera_id}", daemon=False
        )
        self._thread.start()

    async def stop(self) -> None:
        """Stop the worker (it finishes the clip in progress), then hand over what is left."""
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
        await self._outbox.flush()

    def diagnostics(self) -> dict[str, Any]:
        """Health and counters of the camera (no secrets)."""
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
            "clips_emitted": self._outbox.clips_emitted,
            "clips_discarded": recorder.clips_discarded,
            "clips_pending_handover": len(self._outbox),
            "packets_dropped": recorder.packets_dropped,
            "recorder_error": recorder.last_error,
            "worker_cpu_s": round(self.worker_cpu_s, 3),
            "internal_errors": self.internal_errors,
            "live_detection": self._live.diagnostics() if self._live is not None else None,
        }

    # -- health

    @property
    def clips_emitted(self) -> int:
        """Clips handed over to `on_clip`."""
        return self._outbox.clips_emitted

    @property
    def stream_info(self) -> StreamInfo | None:
        """What the record stream holds (known once connected)."""
        return self._stream_info

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
            try:
                self._recorder.remove_stale_parts()
            except Exception:  # noqa: BLE001 - logged; leftovers stay, recording still starts
                self._internal_error("removing unfinished clip files")
            while not self._stop_event.is_set():
                try:
                    streamed = self._session()
                except Exception:  # noqa: BLE001 - logged; a bug must not end the camera
                    self._internal_error("streaming")
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
                try:
                    if self._pause(delay):
                        break
                except Exception:  # noqa: BLE001 - logged; the thread outlives a housekeeping bug
                    self._internal_error("waiting to reconnect")
                    if self._stop_event.wait(delay):
                        break
        finally:
            self._set_motion(False)
            if self._live is not None:
                self._live.close()
            self._housekeeping(force=True)
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # loop closed
                    self._loop.call_soon_threadsafe(self._done.set)

    def _internal_error(self, doing: str) -> None:
        """A bug met on the worker thread: logged with its traceback and counted; the worker
        carries on (reconnecting with backoff)."""
        self.internal_errors += 1
        _LOGGER.exception(
            "Camera %s: unexpected error in the RTSP worker while %s (%s so far)",
            self._camera_name,
            doing,
            self.internal_errors,
        )

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
            self._lost(self.settings.redact(error_text(err)))
        finally:
            for inp in inputs:
                if inp.record:
                    with contextlib.suppress(Exception):
                        for unit, unit_t in inp.assembler.flush():
                            self._record(unit, unit_t)
            self._outbox.add(self._recorder.close())
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
        container = open_input(
            source,
            options=open_options(self.settings.stall_timeout_s, video_only=not record),
            timeout=(
                self.settings.open_timeout_s,
                min(_READ_POLL_S, self.settings.stall_timeout_s),
            ),
        )
        try:
            if not container.streams.video:
                raise _StreamError("the stream has no video")
            info = stream_info(container)
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
            clock=MediaClock(opened_at),
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
            self._outbox.add(clips)
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
            live = self._live
            if live is not None and self._event_key is not None and result.motion:
                live.offer(frame, self._event_key)

    def _motion_result(self, result: MotionResult, t: float) -> None:
        if not result.motion:
            self._run_start, self._run_frames = None, 0
            if self.motion and t - self._last_motion_t >= self.settings.motion_off_delay_s:
                self._set_motion(False)
            return
        if self._run_start is None:
            self._run_start = t
            if not self.motion and not self._recorder.recording:
                self._event_key = self._new_event_key()
        self._run_frames += 1
        if self._recorder.recording or self._run_frames >= self.settings.motion_frames:
            self._last_motion_t = t
            self._recorder.event_key = self._event_key
            self._recorder.mark_motion(t, result.score, since=self._run_start)
            if not self.motion:
                self._set_motion(True)

    def _new_event_key(self) -> str:
        now = datetime.now(UTC)
        return f"{self._camera_id}-{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z"

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

    def _handover_failed(self, error: str) -> None:
        """A clip could not be handed over (the outbox retries it)."""
        self.last_error = error

    def _housekeeping(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_housekeeping < _HOUSEKEEPING_S:
            return
        self._last_housekeeping = now
        self.worker_cpu_s = time.thread_time()
        if self.motion and now - self._last_motion_t >= self.settings.motion_off_delay_s + 1.0:
            # No detect frame said "no motion" (stream without frames): time it out.
            self._set_motion(False)
        self._outbox.service(now)


def _input_time(inp: _Input) -> float:
    return inp.last_t


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
