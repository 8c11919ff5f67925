"""RtspSource against GStreamer's RTSP server on loopback (real RTSP, real PyAV).

The served files are H.264 (keyframe every second, 10 fps) made with PyAV: a still scene, a
bright object moving for a while, then still again. The server plays a file in real time from
its start for each client, so media time 0 is when the source connected.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.motion import MaskRect
from custom_components.homesec_nvr.core.sources.rtsp import RtspSettings, RtspSource

from .rtsp_fixture import RtspServer, gstreamer_available
from .video import ClipSpec, write_h264_clip

pytestmark = pytest.mark.skipif(
    not gstreamer_available(), reason="GStreamer RTSP server (python3-gi) not installed"
)

USER = "admin"
PASSWORD = "s3cret:pw"
FPS = 10


def scene(width: int, height: int, seconds: float, motion: tuple[float, float]) -> ClipSpec:
    """Still, then an object crossing at 60 px/s during `motion` (never at an edge), then
    still again."""
    start, end = motion
    side = height // 3
    x1 = width // 16 - round(60 * start)
    y1 = height // 3
    return ClipSpec(
        width=width,
        height=height,
        fps=FPS,
        seconds=seconds,
        gop_seconds=1,
        object_box=(x1, y1, x1 + side, y1 + side),
        object_speed=60,
        object_from_s=start,
        object_until_s=end,
        noise=6,
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The served files (generated once for the module)."""
    folder = tmp_path_factory.mktemp("rtsp-media")
    specs = {
        # Main scene: motion from 2.5 s to 4.5 s.
        "main": scene(320, 180, 8.5, (2.5, 4.5)),
        # Short motion early, then a long still tail (room to stop the server before the end).
        "short": scene(160, 96, 12.0, (1.5, 2.5)),
        # Motion in the middle rows only, for the mask test.
        "masked": scene(160, 96, 4.0, (1.0, 3.0)),
        # Same timing at two sizes: record the large, detect on the small.
        "record": scene(320, 180, 7.0, (2.0, 3.5)),
        "detect": scene(160, 96, 7.0, (2.0, 3.5)),
    }
    return {name: write_h264_clip(folder / f"{name}.mp4", spec) for name, spec in specs.items()}


@pytest.fixture
def servers() -> Iterator[Callable[..., RtspServer]]:
    """Start RTSP servers (with authentication); all are stopped at the end."""
    started: list[RtspServer] = []

    def start(**kwargs: Any) -> RtspServer:
        server = RtspServer(user=USER, password=PASSWORD, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        with_signal(server, signal.SIGCONT)
        server.stop()


def with_signal(server: RtspServer, signum: int) -> None:
    if server.running:
        os.kill(server.pid, signum)


class Collector:
    """Receives clips; can fail the first hand-overs (every attempt is recorded)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.clips: list[Clip] = []
        self.attempts: list[Clip] = []
        self.failures = 0
        self.fail_first = fail_first

    async def __call__(self, clip: Clip) -> None:
        self.attempts.append(clip)
        if self.failures < self.fail_first:
            self.failures += 1
            raise RuntimeError("store is busy")
        self.clips.append(clip)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)
    assert predicate(), what


def source_for(
    url: str,
    output: Path,
    *,
    events: list[bool] | None = None,
    statuses: list[bool] | None = None,
    **overrides: Any,
) -> RtspSource:
    values: dict[str, Any] = {
        "record_url": url,
        "output_dir": output,
        "username": USER,
        "password": PASSWORD,
        "detect_width": 160,
        "pre_roll_s": 2.0,
        "post_roll_s": 2.0,
        "min_clip_s": 1.0,
        "open_timeout_s": 3.0,
        "stall_timeout_s": 3.0,
        "reconnect_base_s": 0.2,
        "reconnect_max_s": 1.0,
    }
    values.update(overrides)
    created: list[RtspSource] = []

    def on_status() -> None:
        if statuses is not None:
            statuses.append(created[0].connected)

    source = RtspSource(
        camera_id="porch",
        camera_name="Porch",
        settings=RtspSettings(**values),
        on_motion=events.append if events is not None else None,
        on_status=on_status,
    )
    created.append(source)
    return source


def decoded(path: Path) -> tuple[int, int, float, float]:
    """(frames decoded, packets, first and last time the object shows) of a clip."""
    seen: list[float] = []
    frames = 0
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size)
        container.seek(0)
        for frame in container.decode(video=0):
            frames += 1
            grey = frame.to_ndarray(format="gray")
            if int((grey > 200).sum()) >= grey.size // 100:
                seen.append(float(frame.time))
    assert seen, "the object never shows in the clip"
    return frames, packets, seen[0], seen[-1]


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("homesec-rtsp-")]


async def test_motion_clip_has_pre_roll_post_roll_and_plays(
    servers: Callable[..., RtspServer], media: dict[str, Path], tmp_path: Path
) -> None:
    # Given a camera (with credentials) whose scene has motion from 2.5 s to 4.5 s
    server = servers(files={"/cam": media["main"]})
    events: list[bool] = []
    collector = Collector()
    source = source_for(server.url("/cam"), tmp_path, events=events)

    # When the source runs until the clip is handed over
    await source.start(collector)
    try:
        await wait_until(lambda: bool(collector.clips), 20, "no clip")
        diagnostics = source.diagnostics()
        connected = source.connected
    finally:
        await source.stop()

    # Then the motion sensor went on and off
    assert events == [True, False]
    # And the clip starts at least the pre-roll before the object appears ...
    clip = collector.clips[0]
    frames, packets, first_seen, last_seen = decoded(clip.path)
    assert first_seen >= 2.0 - 0.01
    # ... and ends at least the post-roll after it is gone (last motion frame: 4.4 s +- 0.2)
    duration = clip.metadata["duration_s"]
    assert duration - (last_seen + 0.1) >= 2.0 - 0.35
    # ... with the expected length within a keyframe interval: from the keyframe 2 s before
    # the motion to 2 s after it
    expected = (first_seen + 2.0) + 2.0
    assert abs(duration - expected) <= 1.0
    # And every frame decodes
    assert frames == packets == clip.metadata["frames"]
    assert frames == pytest.approx(duration * FPS, abs=1)
    # The clip is described for the pipeline
    assert clip.source_type == "rtsp" and clip.camera_id == "porch"
    assert clip.duration_s == pytest.approx(duration)
    assert clip.metadata["motion_score_peak"] > 1.0
    assert clip.metadata["width"] == 320 and clip.metadata["video_codec"] == "h264"
    # No partial file is left, and the clip is visible (not hidden)
    assert os.listdir(tmp_path) == [clip.path.name]
    # Health while it ran, without secrets
    assert connected
    assert diagnostics["stream"]["width"] == 320 and diagnostics["detect_size"] == [160, 90]
    assert diagnostics["frames_analyzed"] >= 20
    assert PASSWORD not in repr(diagnostics) and USER not in diagnostics["record_url"]
    # And stopping left no thread behind
    assert workers() == []
    assert not source.connected


async def test_reconnects_after_the_server_restarts_and_records_the_next_motion(
    servers: Callable[..., RtspServer], media: dict[str, Path], tmp_path: Path
) -> None:
    # Given a camera with motion at 1.5 s, and a pipeline that fails the first hand-over
    server = servers(files={"/cam": media["short"]})
    collector = Collector(fail_first=1)
    statuses: list[bool] = []
    source = source_for(
        server.url("/cam"), tmp_path, statuses=statuses, pre_roll_s=1.0, post_roll_s=1.0
    )
    await source.start(collector)
    try:
        # When the first clip is handed over (on the second attempt)
        await wait_until(lambda: bool(collector.clips), 20, "no first clip")
        # ... then the server goes away
        server.stop()
        await wait_until(lambda: not source.connected, 10, "disconnect not noticed")
        assert source.unreachable_since is not None and source.last_error
        # ... and comes back on the same port
        server.restart()
        await wait_until(lambda: len(collector.clips) >= 2, 20, "no clip after reconnecting")
        reconnects, unreachable = source.reconnects, source.unreachable_since
    finally:
        await source.stop()

    # Then the source reconnected and recorded the new motion
    assert reconnects >= 1 and unreachable is None
    assert statuses[:2] == [True, False] and True in statuses[2:]
    first, second = collector.clips[:2]
    assert first.clip_id != second.clip_id
    assert decoded(second.path)[2] >= 1.0 - 0.01
    # And the failed hand-over was retried with the same file
    assert collector.failures == 1 and first.path.is_file()
    assert workers() == []


async def test_masked_motion_is_ignored_on_the_stream(
    servers: Callable[..., RtspServer], media: dict[str, Path], tmp_path: Path
) -> None:
    # Given a camera whose only motion is inside a mask (the middle band of the picture)
    server = servers(files={"/cam": media["masked"]})
    events: list[bool] = []
    collector = Collector()
    source = source_for(
        server.url("/cam"), tmp_path, events=events, masks=(MaskRect(0.0, 0.25, 1.0, 0.5),)
    )

    # When the whole file has played (the stream ends, the source notices)
    await source.start(collector)
    try:
        await wait_until(lambda: source.last_error == "end of stream", 15, "file not played")
        analyzed = source.frames_analyzed
    finally:
        await source.stop()

    # Then no motion was reported and nothing was recorded, though frames were analysed
    assert events == []
    assert collector.clips == [] and os.listdir(tmp_path) == []
    assert analyzed >= 15


async def test_stall_is_detected_and_stop_is_prompt_while_stalled(
    servers: Callable[..., RtspServer], tmp_path: Path
) -> None:
    # Given a live camera, and unfinished clips of this camera and of another one left behind
    # by a crash
    server = servers(patterns={"/live": "160x96@10"})
    source = source_for(server.url("/live"), tmp_path, stall_timeout_s=1.5, open_timeout_s=1.5)
    stale = tmp_path / ".porch-20250101T120002000Z.mp4.part"
    other = tmp_path / ".porch_2-20250101T120002000Z.mp4.part"
    for path in (stale, other):
        path.write_bytes(b"partial")
    await source.start(Collector())
    try:
        await wait_until(lambda: source.connected, 10, "never connected")

        # When the camera stops sending (process paused), then resumes
        with_signal(server, signal.SIGSTOP)
        await wait_until(lambda: not source.connected, 10, "stall not detected")
        error = source.last_error
        with_signal(server, signal.SIGCONT)
        await wait_until(lambda: source.connected, 15, "no reconnection after the stall")

        # Then the stall was reported and the source reconnected
        assert error is not None and "stalled" in error
        assert source.reconnects >= 1

        # When the camera stalls again and the source is stopped
        with_signal(server, signal.SIGSTOP)
        await asyncio.sleep(0.3)
        started = time.monotonic()
    finally:
        await source.stop()
    elapsed = time.monotonic() - started

    # Then stop returns within about a read poll, leaving no thread
    assert elapsed < 2.0
    assert workers() == []
    # And only this camera's unfinished clip was removed (the moving pattern made clips too)
    names = os.listdir(tmp_path)
    assert stale.name not in names and other.name in names


async def test_separate_detect_stream_drives_recording_of_the_main_stream(
    servers: Callable[..., RtspServer],
    media: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a camera with a main stream (320x180) and a sub stream (160x96), same scene, and a
    # pipeline that refuses every clip
    server = servers(files={"/main": media["record"], "/sub": media["detect"]})
    collector = Collector(fail_first=1000)
    source = source_for(
        server.url("/main"),
        tmp_path,
        detect_url=server.url("/sub"),
        pre_roll_s=1.5,
        post_roll_s=1.5,
    )

    # When motion happens, and the source is stopped after the hand-over failed
    await source.start(collector)
    try:
        await wait_until(lambda: collector.failures >= 1, 20, "no clip")
        diagnostics = source.diagnostics()
    finally:
        await source.stop()

    # Then the clip is the main stream's, with its pre-roll, and detection ran on the sub.
    # (The test server plays each mount from its start when it is opened, and the sub stream
    # is opened after the main one, so the object shows in the main stream earlier than the
    # sub stream reports motion: the clip holds it, but not a full pre-roll before it.)
    clip = collector.attempts[0]
    frames, packets, first_seen, _ = decoded(clip.path)
    assert clip.metadata["width"] == 320
    assert frames == packets
    assert clip.metadata["pre_roll_s"] >= 1.5
    assert first_seen > 0.0
    assert diagnostics["detect_stream"]["width"] == 160
    assert diagnostics["detect_size"] == [160, 96]
    assert diagnostics["detect_url"].endswith("/sub") and USER not in diagnostics["detect_url"]
    # And the clip that could not be handed over (retried at stop) stays on disk, reported
    assert {c.clip_id for c in collector.attempts} == {clip.clip_id}
    assert len(collector.attempts) >= 2
    assert clip.path.is_file() and source.clips_emitted == 0
    assert f"clip {clip.path} could not be handed over and stays on disk" in caplog.text
    assert workers() == []


async def test_unusable_streams_are_reported(
    servers: Callable[..., RtspServer], tmp_path: Path
) -> None:
    # Given two cameras: one sends MJPEG (cannot be remuxed into MP4), one has no video
    server = servers(patterns={"/mjpeg": "160x96@10+mjpeg", "/audio": "audio"})
    mjpeg = source_for(
        server.url("/mjpeg"), tmp_path / "a", reconnect_base_s=5.0, reconnect_max_s=5.0
    )
    audio = source_for(
        server.url("/audio"), tmp_path / "b", reconnect_base_s=5.0, reconnect_max_s=5.0
    )

    # When they start
    await mjpeg.start(Collector())
    await audio.start(Collector())
    try:
        await wait_until(
            lambda: mjpeg.last_error is not None and audio.last_error is not None,
            15,
            "errors not reported",
        )
    finally:
        await mjpeg.stop()
        await audio.stop()

    # Then each reports why, as unreachable (for a repair issue), never connected
    assert mjpeg.last_error == "video codec mjpeg cannot be recorded"
    assert audio.last_error == "the stream has no video"
    for source in (mjpeg, audio):
        assert not source.connected and source.unreachable_since is not None
        assert source.diagnostics()["reconnects"] == 0
    assert workers() == []
