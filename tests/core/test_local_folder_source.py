"""The watched-folder source: stability, extensions, hidden files, failures."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from custom_components.homesec_nvr.core.models import Clip
from custom_components.homesec_nvr.core.sources.local_folder import LocalFolderSource, make_clip_id

from ..video import write_clip


class Collector:
    """Receives clips from the source."""

    def __init__(self, fail_first: int = 0) -> None:
        self.clips: list[Clip] = []
        self.fail_first = fail_first

    async def __call__(self, clip: Clip) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("store busy")
        self.clips.append(clip)

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.clips) < count:
                await asyncio.sleep(0.02)


def _source(folder: Path, stable: float = 0.2) -> LocalFolderSource:
    return LocalFolderSource(
        camera_id="cam-1",
        camera_name="Front door",
        folder=folder,
        poll_interval_s=0.05,
        stable_time_s=stable,
    )


async def test_takes_stable_video_files_once(tmp_path: Path) -> None:
    # Given a watched folder with a video, a text file and a hidden partial upload
    write_clip(tmp_path / "a.mp4")
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / ".b.mp4.part").write_bytes(b"partial")
    collector = Collector()
    source = _source(tmp_path)

    # When the source runs for a while
    await source.start(collector)
    await collector.wait(1)
    await asyncio.sleep(0.4)
    await source.stop()

    # Then only the video was emitted, once, with its duration and metadata
    assert len(collector.clips) == 1
    clip = collector.clips[0]
    assert clip.path == tmp_path / "a.mp4"
    assert clip.source_type == "local_folder"
    assert abs(clip.duration_s - 2.0) < 0.2
    assert clip.metadata["file_name"] == "a.mp4"
    stat = (tmp_path / "a.mp4").stat()
    assert clip.clip_id == make_clip_id("cam-1", "a.mp4", stat.st_size, stat.st_mtime_ns)


async def test_waits_while_a_file_is_still_growing(tmp_path: Path) -> None:
    # Given a file being written in several steps
    collector = Collector()
    source = _source(tmp_path, stable=0.3)
    await source.start(collector)
    target = tmp_path / "growing.mp4"
    with target.open("wb") as handle:
        for _ in range(5):
            # When the file keeps growing faster than the stable time
            handle.write(b"\0" * 1000)
            handle.flush()
            await asyncio.sleep(0.1)
            # Then nothing is emitted yet
            assert collector.clips == []
    await collector.wait(1)
    await source.stop()
    assert collector.clips[0].metadata["size_bytes"] == 5000


async def test_same_name_with_new_content_is_a_new_clip(tmp_path: Path) -> None:
    # Given a file that was emitted
    collector = Collector()
    source = _source(tmp_path, stable=0.1)
    write_clip(tmp_path / "cam.mp4", seconds=1.0)
    await source.start(collector)
    await collector.wait(1)

    # When the camera overwrites it with a new recording
    write_clip(tmp_path / "cam.mp4", seconds=2.0)
    os.utime(tmp_path / "cam.mp4", ns=(1, 2_000_000_000_000_000_000))
    await collector.wait(2)
    await source.stop()

    # Then it is a second clip with another id
    assert collector.clips[0].clip_id != collector.clips[1].clip_id


async def test_a_failed_hand_over_is_retried(tmp_path: Path) -> None:
    # Given a pipeline that refuses the first hand-over
    collector = Collector(fail_first=1)
    source = _source(tmp_path, stable=0.1)
    write_clip(tmp_path / "a.mp4")

    # When the source runs
    await source.start(collector)
    await collector.wait(1)
    await source.stop()

    # Then the clip arrived on the next scan: nothing lost
    assert [c.path.name for c in collector.clips] == ["a.mp4"]


async def test_missing_folder_is_reported_and_recovers(tmp_path: Path) -> None:
    # Given a source whose folder does not exist (an unmounted share)
    folder = tmp_path / "share"
    collector = Collector()
    source = _source(folder, stable=0.1)

    # When it runs
    await source.start(collector)
    await asyncio.sleep(0.2)

    # Then it reports the problem
    assert source.healthy is False
    assert source.last_error is not None
    assert "cannot read folder" in source.last_error
    assert source.diagnostics()["healthy"] is False

    # And when the share comes back, clips flow again
    folder.mkdir()
    write_clip(folder / "a.mp4")
    await collector.wait(1)
    assert source.healthy is True
    await source.stop()


async def test_files_taken_and_then_deleted_are_forgotten(tmp_path: Path) -> None:
    # Given a watcher whose clips are deleted once taken (as delete-after-store does)
    source = _source(tmp_path, stable=0.05)
    taken: list[Clip] = []

    async def take_and_delete(clip: Clip) -> None:
        taken.append(clip)
        await asyncio.to_thread(clip.path.unlink)

    # When twenty clips come and go
    await source.start(take_and_delete)
    for index in range(20):
        await asyncio.to_thread(write_clip, tmp_path / f"clip{index}.mp4")
        async with asyncio.timeout(5):
            while len(taken) <= index:
                await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # a few more scans of the empty folder
    diagnostics = source.diagnostics()
    await source.stop()

    # Then each was taken once and the watcher remembers none of them (its memory does not
    # grow with the clips it has seen)
    assert len(taken) == 20
    assert diagnostics["files_taken_present"] == 0
    assert diagnostics["files_pending"] == 0
