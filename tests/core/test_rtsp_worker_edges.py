"""CameraWorker edge cases against GStreamer's RTSP server on loopback (real RTSP, real PyAV).

Audio recorded with the video, a detect stream that cannot be opened, start/stop misuse, and
an unexpected error while opening (the worker must keep trying).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.rtsp import RtspSettings, worker
from custom_components.homesec_nvr.core.sources.rtsp.worker import CameraWorker

from .rtsp_fixture import RtspServer, gstreamer_available

pytestmark = pytest.mark.skipif(
    not gstreamer_available(), reason="GStreamer RTSP server (python3-gi) not installed"
)

USER = "admin"
PASSWORD = "s3cret:pw"


@pytest.fixture
def servers() -> Iterator[Callable[..., RtspServer]]:
    started: list[RtspServer] = []

    def start(**kwargs: Any) -> RtspServer:
        server = RtspServer(user=USER, password=PASSWORD, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.running:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()


def camera(url: str, output: Path, **overrides: Any) -> CameraWorker:
    values: dict[str, Any] = {
        "record_url": url,
        "output_dir": output,
        "username": USER,
        "password": PASSWORD,
        "detect_width": 160,
        "pre_roll_s": 1.0,
        "post_roll_s": 1.0,
        "min_clip_s": 1.0,
        "max_clip_s": 3.0,
        "open_timeout_s": 3.0,
        "stall_timeout_s": 3.0,
        "reconnect_base_s": 0.2,
        "reconnect_max_s": 0.5,
    }
    values.update(overrides)
    return CameraWorker(camera_id="porch", camera_name="Porch", settings=RtspSettings(**values))


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)
    assert predicate(), what


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("homesec-rtsp-")]


async def test_audio_is_recorded_with_the_video(
    servers: Callable[..., RtspServer], tmp_path: Path
) -> None:
    # Given a camera sending H.264 (a moving ball: motion) and an AAC tone
    server = servers(patterns={"/av": "160x96@10+audio"})
    cam = camera(server.url("/av"), tmp_path)
    clips: list[Clip] = []

    async def on_clip(clip: Clip) -> None:
        clips.append(clip)

    # When it records until a clip was handed over (clips are split at max_clip_s)
    assert cam.stream_info is None
    cam.start(asyncio.get_running_loop(), on_clip)
    try:
        await wait_until(lambda: bool(clips), 25, "no clip recorded")
    finally:
        await cam.stop()

    # Then the stream was seen with its audio, and the clip holds both tracks
    info = cam.stream_info
    assert info is not None and info.video_codec == "h264"
    assert info.to_dict()["audio_codec"] == "aac"
    with av.open(str(clips[0].path)) as container:
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == 1
        audio_packets = sum(1 for p in container.demux(audio=0) if p.size)
    assert audio_packets > 0
    assert workers() == []


async def test_a_detect_stream_that_cannot_be_opened_is_reported(
    servers: Callable[..., RtspServer], tmp_path: Path
) -> None:
    # Given a camera whose record stream works but whose detect stream does not exist
    server = servers(patterns={"/main": "160x96@10"})
    cam = camera(
        server.url("/main"),
        tmp_path,
        detect_url=server.url("/missing"),
        reconnect_base_s=5.0,
        reconnect_max_s=5.0,
    )

    async def on_clip(clip: Clip) -> None:
        raise AssertionError("no clip expected")

    # When it starts
    cam.start(asyncio.get_running_loop(), on_clip)
    try:
        await wait_until(lambda: cam.last_error is not None, 15, "error not reported")
    finally:
        await cam.stop()

    # Then the camera is unreachable (never connected) and says so, without credentials
    assert not cam.connected and cam.unreachable_since is not None
    assert cam.last_error is not None and PASSWORD not in cam.last_error
    assert cam.diagnostics()["detect_url"] is not None
    assert cam.reconnects == 0 and workers() == []


async def test_start_twice_is_refused_and_stop_twice_is_harmless(tmp_path: Path) -> None:
    # Given a worker that was never started
    cam = camera("rtsp://127.0.0.1:9/none", tmp_path, reconnect_base_s=5.0, reconnect_max_s=5.0)

    async def on_clip(clip: Clip) -> None:
        raise AssertionError("no clip expected")

    # When it is stopped before it starts
    await cam.stop()

    # Then nothing happens (no thread)
    assert workers() == []

    # When it is started twice
    cam.start(asyncio.get_running_loop(), on_clip)
    try:
        with pytest.raises(RuntimeError, match="already started"):
            cam.start(asyncio.get_running_loop(), on_clip)
    finally:
        await cam.stop()
        await cam.stop()

    # Then one thread ran and both stops returned
    assert workers() == []


async def test_an_unexpected_error_does_not_end_the_camera(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a media layer that fails with a bug (not a network error) on every open
    opens: list[str] = []

    def broken_open(source: str, **kwargs: Any) -> Any:
        opens.append(source)
        raise KeyError("bug")

    monkeypatch.setattr(worker, "open_input", broken_open)
    cam = camera("rtsp://127.0.0.1:9/none", tmp_path, reconnect_base_s=0.05, reconnect_max_s=0.1)

    async def on_clip(clip: Clip) -> None:
        raise AssertionError("no clip expected")

    # When the worker runs (it has no status callback)
    cam.start(asyncio.get_running_loop(), on_clip)
    try:
        await wait_until(lambda: len(opens) >= 3, 10, "the worker gave up")
    finally:
        await cam.stop()

    # Then it reports an internal error, keeps retrying, and stops cleanly
    assert cam.last_error == "internal error (see the log)"
    assert not cam.connected and cam.unreachable_since is not None
    assert workers() == []


async def test_a_bug_in_the_workers_housekeeping_never_ends_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a camera that is unreachable, whose clean-up of leftovers and whose housekeeping
    # between reconnects both fail with bugs (the first three times)
    cam = camera("rtsp://127.0.0.1:9/none", tmp_path, reconnect_base_s=0.05, reconnect_max_s=0.1)
    pauses: list[float] = []
    real_housekeeping = cam._housekeeping

    def stale_parts() -> None:
        raise PermissionError("output folder not listable")

    def housekeeping(*, force: bool = False) -> None:
        pauses.append(force)
        if len(pauses) <= 3:
            raise RuntimeError("housekeeping bug")
        real_housekeeping(force=force)

    monkeypatch.setattr(cam._recorder, "remove_stale_parts", stale_parts)
    monkeypatch.setattr(cam, "_housekeeping", housekeeping)

    async def on_clip(clip: Clip) -> None:
        raise AssertionError("no clip expected")

    # When the worker runs for a while
    cam.start(asyncio.get_running_loop(), on_clip)
    try:
        await wait_until(lambda: len(pauses) >= 6, 10, "the worker thread ended")
        alive = [t.is_alive() for t in workers()]
    finally:
        await cam.stop()

    # Then its thread stayed alive through every bug, each was logged and counted, and it
    # still stops cleanly
    assert alive == [True]
    assert cam.diagnostics()["internal_errors"] == 4
    assert "while removing unfinished clip files (1 so far)" in caplog.text
    assert "while waiting to reconnect" in caplog.text
    assert workers() == []
