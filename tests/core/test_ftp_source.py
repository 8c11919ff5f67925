"""The FTP source: JPEG snapshot series become one H.264 clip per event, complete files an
earlier run left are taken at start, and the server runs supervised (restarted when it cannot
listen, its port freed when stopped)."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from pathlib import Path

import av
import pytest

from custom_components.homesec_nvr.core.runner import Backoff
from custom_components.homesec_nvr.core.sources.ftp import FtpSource
from custom_components.homesec_nvr.core.sources.ftp_server import FtpServer, port_bindable
from custom_components.homesec_nvr.core.supervisor import TaskSupervisor

from ..video import write_clip
from .ftp_rig import HOST, Collector, Rig, fast_config, running_rig, write_jpeg

pytestmark = pytest.mark.usefixtures("socket_enabled")


def _decoded_frames(path: Path) -> tuple[str, int, int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        return stream.codec_context.name, len(frames), frames[0].width, frames[0].height


def _upload_series(rig: Rig, pictures: list[bytes], prefix: str, pause_s: float) -> None:
    with rig.login() as client:
        for index, picture in enumerate(pictures):
            client.storbinary(f"STOR {prefix}{index:02d}.jpg", io.BytesIO(picture))
            time.sleep(pause_s)  # a client thread, not the loop


async def test_jpeg_series_become_one_clip_per_event(tmp_path: Path) -> None:
    # Given a camera that uploads JPEG snapshots (events end after a 0.5 s quiet gap)
    pictures = [
        write_jpeg(tmp_path / f"p{i}.jpg", value=40 + 30 * i).read_bytes() for i in range(4)
    ]
    async with running_rig(tmp_path, snapshot_gap_s=0.5) as rig:
        # When it sends 4 pictures 0.1 s apart, is quiet for a second, then sends 2 more
        await asyncio.to_thread(_upload_series, rig, pictures, "a", 0.1)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(_upload_series, rig, pictures[:2], "b", 0.1)
        clips = await rig.clips["front"].wait(2)
        await asyncio.sleep(0.2)
        left = sorted(p.name for p in rig.folders["front"].iterdir() if p.suffix == ".jpg")

    # Then each event became one H.264 clip of its pictures, and the pictures are gone
    assert len(clips) == 2
    first, second = clips
    assert first.metadata["snapshots"] == 4
    assert second.metadata["snapshots"] == 2
    assert first.metadata["file_name"] == "/a00.jpg"
    codec, frames, width, height = _decoded_frames(first.path)
    assert (codec, width, height) == ("h264", 320, 180)
    assert frames >= 4
    assert 0.2 <= first.duration_s <= 2.0
    assert second.start_ts > first.end_ts - (first.end_ts - first.start_ts)
    assert left == []
    assert rig.sources["front"].snapshot_clips == 2


async def test_a_series_of_undecodable_pictures_gives_no_clip(tmp_path: Path) -> None:
    # Given a camera whose "JPEGs" are not pictures
    async with running_rig(tmp_path, snapshot_gap_s=0.2) as rig:
        # When it uploads two of them
        await asyncio.to_thread(_upload_series, rig, [b"not a jpeg", b"\xff\xd8junk"], "x", 0)
        await asyncio.sleep(0.8)

    # Then no clip is made, the files are removed and the failure is counted
    assert rig.clips["front"].clips == []
    assert not [p for p in rig.folders["front"].iterdir() if p.suffix == ".jpg"]
    assert rig.sources["front"].files_failed == 2
    assert "could not be made a clip" in (rig.sources["front"].last_error or "")


async def test_complete_files_of_an_earlier_run_are_taken_at_start(tmp_path: Path) -> None:
    # Given a camera folder with a complete clip and two pictures nobody took yet
    folder = tmp_path / "ftp" / "front"
    (folder / "2026-12-01").mkdir(parents=True)
    write_clip(folder / "2026-12-01" / "left.mp4")
    write_jpeg(folder / "s1.jpg")
    write_jpeg(folder / "s2.jpg", value=200)

    # When the source starts
    async with running_rig(tmp_path, snapshot_gap_s=0.2) as rig:
        clips = await rig.clips["front"].wait(2)

    # Then the clip and one clip of the pictures are handed over
    names = sorted(str(c.metadata["file_name"]) for c in clips)
    assert names == ["/2026-12-01/left.mp4", "/s1.jpg"]
    assert {c.metadata.get("snapshots") for c in clips} == {None, 2}


async def test_server_that_cannot_listen_is_restarted_until_it_can(tmp_path: Path) -> None:
    # Given a port another program holds
    blocker = socket.socket()
    blocker.bind((HOST, 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    server = FtpServer(fast_config(port=port))
    collector = Collector()
    source = FtpSource(
        camera_id="cam",
        camera_name="Cam",
        server=server,
        username="cam",
        password="cam-pw",
        root=tmp_path / "cam",
    )
    await source.start(collector)
    supervisor = TaskSupervisor(backoff=Backoff(base_delay_s=0.05, max_delay_s=0.1))

    # When the server runs supervised
    task = supervisor.start("homesec ftp server", server.serve)
    await asyncio.sleep(0.2)
    failing = task.failing
    error = server.last_error
    # and the other program lets the port go
    blocker.close()
    await asyncio.wait_for(server.listening.wait(), 10)

    # Then it failed visibly first, then listens; stopping it frees the port
    assert failing
    assert error is not None
    assert "cannot listen" in error
    await supervisor.stop_all()
    await source.stop()
    assert await asyncio.to_thread(port_bindable, HOST, port)


async def test_stopping_while_the_server_starts_never_leaks_its_port(tmp_path: Path) -> None:
    # Given a fixed free port
    probe = socket.socket()
    probe.bind((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    leaks = []
    for steps in range(6):
        # When the server is stopped after `steps` turns of the loop (while it binds)
        server = FtpServer(fast_config(port=port))
        task = asyncio.get_running_loop().create_task(server.serve())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # Then the port is free again every time
        if not await asyncio.to_thread(port_bindable, HOST, port):
            leaks.append(steps)
    assert leaks == []
