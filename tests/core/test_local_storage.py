"""An unavailable storage folder keeps clips and is never recreated (an unmounted share).

Four ways the storage folder goes away: missing (the share is not mounted and the folder was
on it), replaced by a file, read-only (a real read-only mount when running as root, else
permissions), removed while a clip is being stored. Real files and real video throughout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from custom_components.homesec_nvr.core.interfaces import (
    PipelineError,
    StorageUnavailableError,
)
from custom_components.homesec_nvr.core.models import ClipEventType, ClipStatus
from custom_components.homesec_nvr.core.retention import RetentionSettings, apply_retention
from custom_components.homesec_nvr.core.runner import CameraPipelineSettings
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from ..video import write_clip
from .doubles import ScriptedFilter, ScriptedNotifier, filter_result, make_clip
from .faults import PipelineKit

CONDITIONS = ["missing", "replaced_by_file", "read_only", "removed_mid_store"]


class VanishingStorage(LocalStorage):
    """Local storage whose root is removed (the share unmounted) while a copy is under way."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.vanish = False

    def _copy_file(self, source: Path, tmp: Path) -> None:
        super()._copy_file(source, tmp)
        if self.vanish:
            self.vanish = False
            # At once, as an unmount: the folder's contents go with it.
            self.root.rename(self.root.with_name(f"{self.root.name}.unmounted"))


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def read_only(root: Path) -> Iterator[Callable[[], None]]:
    """Make `root` (an existing folder) read-only; yields a function that makes it writable.

    As root (whom permissions do not stop) a real read-only tmpfs is mounted on it, as a share
    remounted read-only would be; otherwise its permissions drop the write bit.
    """
    if _can_mount():
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=4m", "tmpfs", str(root)],
            check=False,
            capture_output=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a read-only folder here: {done.stderr.decode().strip()}")
        try:
            yield lambda: subprocess.run(
                ["mount", "-o", "remount,rw", str(root)], check=True, capture_output=True
            )
        finally:
            subprocess.run(["umount", str(root)], check=False, capture_output=True)
    else:
        root.chmod(0o555)
        try:
            yield lambda: root.chmod(0o755)
        finally:
            root.chmod(0o755)


@dataclass
class Share:
    """A storage folder on a share that the test makes unavailable, then brings back."""

    root: Path
    condition: str

    @contextmanager
    def unavailable(self, storage: LocalStorage) -> Iterator[Callable[[], None]]:
        """Make the storage unavailable; yields `back()`, which makes it available again."""
        if self.condition == "missing":
            shutil.rmtree(self.root)
            yield lambda: self.root.mkdir()
        elif self.condition == "replaced_by_file":
            shutil.rmtree(self.root)
            self.root.write_text("not a folder")

            def back() -> None:
                self.root.unlink()
                self.root.mkdir()

            yield back
        elif self.condition == "read_only":
            with read_only(self.root) as back:
                yield back
        else:
            assert isinstance(storage, VanishingStorage)
            storage.vanish = True
            yield lambda: self.root.mkdir()

    def assert_not_recreated(self) -> None:
        if self.condition in ("missing", "removed_mid_store"):
            assert not self.root.exists()
        elif self.condition == "replaced_by_file":
            assert self.root.read_text() == "not a folder"
        else:
            assert list(self.root.iterdir()) == []


@pytest.fixture
async def store(tmp_path: Path) -> AsyncGenerator[ClipStore]:
    store = ClipStore(tmp_path / "db" / "homesec.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return write_clip(tmp_path / "in" / "clip.mp4")


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _exists(path: Path) -> bool:
    return path.exists()


def _storage(tmp_path: Path) -> tuple[VanishingStorage, Path]:
    root = tmp_path / "share" / "homesec"
    storage = VanishingStorage(root)
    storage.ensure_root()
    return storage, root


# -- the storage itself ----------------------------------------------------------------------


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_an_unavailable_root_is_a_typed_error_and_is_never_created(
    tmp_path: Path, source: Path, condition: str
) -> None:
    # Given storage set up on a share, then made unavailable this way
    storage, root = _storage(tmp_path)
    share = Share(root, condition)
    original = _read(source)
    with share.unavailable(storage):
        # When a clip is stored
        with pytest.raises(StorageUnavailableError) as caught:
            await storage.put_clip(make_clip(source))

        # Then the error says the storage is unavailable (retryable), nothing was created in
        # its place, and the source is untouched
        assert caught.value.retryable
        assert "cannot store clip" in str(caught.value)
        assert str(root) in str(caught.value)
        share.assert_not_recreated()
        assert _read(source) == original
        assert storage.unavailable_reason() is not None


@pytest.mark.parametrize("condition", ["missing", "replaced_by_file", "read_only"])
async def test_snapshots_and_deletes_refuse_an_unavailable_root(
    tmp_path: Path, source: Path, condition: str
) -> None:
    # Given a stored clip, then its storage made unavailable
    storage, root = _storage(tmp_path)
    uri = await storage.put_clip(make_clip(source))
    share = Share(root, condition)
    with share.unavailable(storage):
        # When a snapshot is written or the stored clip deleted
        with pytest.raises(StorageUnavailableError, match="cannot write snapshot"):
            await storage.put_snapshot(make_clip(source), b"jpeg")
        with pytest.raises(StorageUnavailableError, match="cannot delete"):
            await storage.delete(uri)

        # Then nothing was created or counted as deleted
        share.assert_not_recreated()
    path = storage.local_path(uri)
    assert path is not None
    if condition == "read_only":
        assert path.is_file()  # still there under the mount


async def test_ensure_root_creates_the_folder_once_at_set_up(tmp_path: Path, source: Path) -> None:
    # Given a storage folder that does not exist yet, two levels deep
    root = tmp_path / "media" / "homesec"
    storage = LocalStorage(root)
    assert storage.unavailable_reason() is not None

    # When the set-up path creates it
    storage.ensure_root()

    # Then it exists, is available, and clips are stored under it
    assert root.is_dir()
    assert storage.unavailable_reason() is None
    uri = await storage.put_clip(make_clip(source))
    assert uri.startswith(f"file:{root.as_posix()}/front_door/")


async def test_ensure_root_refuses_a_path_that_is_a_file(tmp_path: Path) -> None:
    # Given a storage path that is a regular file
    blocker = tmp_path / "blocked"
    blocker.write_text("x")

    # When the set-up path tries to create it, Then it is refused as unavailable
    with pytest.raises(StorageUnavailableError, match="cannot create storage folder"):
        LocalStorage(blocker).ensure_root()


async def test_a_failure_of_one_file_is_not_storage_unavailable(
    tmp_path: Path, source: Path
) -> None:
    # Given an available storage whose day folder for the clip is taken by a file
    storage, root = _storage(tmp_path)
    clip = make_clip(source)
    day = clip.start_ts.astimezone().strftime("%Y-%m-%d")
    (root / "front_door").mkdir()
    (root / "front_door" / day).write_text("in the way")

    # When the clip is stored
    with pytest.raises(PipelineError) as caught:
        await storage.put_clip(clip)

    # Then it is a plain storage failure (the storage itself is there)
    assert not isinstance(caught.value, StorageUnavailableError)
    assert "cannot store clip in" in str(caught.value)


async def test_removing_the_last_clip_keeps_the_root(tmp_path: Path, source: Path) -> None:
    # Given the only stored clip
    storage, root = _storage(tmp_path)
    uri = await storage.put_clip(make_clip(source))

    # When it is deleted
    freed = await storage.delete(uri)

    # Then its empty day and camera folders go, the root stays
    assert freed == len(_read(source))
    assert root.is_dir() and list(root.iterdir()) == []


# -- the pipeline and the catch-up job --------------------------------------------------------


@pytest.mark.parametrize("condition", CONDITIONS)
async def test_a_clip_processed_while_the_share_is_away_is_kept_then_stored_when_it_is_back(
    tmp_path: Path, store: ClipStore, source: Path, condition: str
) -> None:
    # Given a camera that deletes sources once stored, and its storage share unavailable
    storage, root = _storage(tmp_path)
    share = Share(root, condition)
    notifier = ScriptedNotifier("phone")
    kit = PipelineKit(store, storage)
    camera = CameraPipelineSettings(delete_source_after_store=True)
    pipeline = kit.pipeline(ScriptedFilter(filter_result("person")), None, [notifier], camera)
    original = _read(source)
    with share.unavailable(storage) as back:
        # When a clip is processed, and the catch-up job runs while the share is still away
        assert await pipeline.submit(make_clip(source))
        await pipeline.wait_idle()
        assert await pipeline.retry_failed_uploads() == 0

        # Then the alert went out, the clip is done but not stored, its source kept, and
        # nothing was created where the share should be
        assert len(notifier.sent) == 1
        state = await store.get_state("clip-1")
        assert state is not None and state.status is ClipStatus.DONE
        assert not state.upload_done and state.clip_uri is None
        assert _read(source) == original
        share.assert_not_recreated()
        events = await store.events("clip-1")
        failed = [e for e in events if e.event_type is ClipEventType.UPLOAD_FAILED]
        assert failed and all(e.error_type == "StorageUnavailableError" for e in failed)

        # When the share is back and the catch-up job runs again
        back()
        stored = await pipeline.retry_failed_uploads()

        # Then the clip is stored complete and only then its source removed
        assert stored == 1
        state = await store.get_state("clip-1")
        assert state is not None and state.upload_done and state.clip_uri is not None
        copy = storage.local_path(state.clip_uri)
        assert copy is not None and copy.read_bytes() == original
        assert not _exists(source)
        assert len(notifier.sent) == 1
    await pipeline.stop()


async def test_retention_with_the_share_away_marks_nothing_deleted(
    tmp_path: Path, store: ClipStore, source: Path
) -> None:
    # Given two stored clips past their retention, and then the share unmounted
    storage, root = _storage(tmp_path)
    pipeline = PipelineKit(store, storage).pipeline(ScriptedFilter(filter_result()))
    for clip_id in ("old-1", "old-2"):
        assert await pipeline.submit(make_clip(source, clip_id=clip_id))
    await pipeline.wait_idle()
    shutil.rmtree(root)
    later = datetime.now(UTC) + timedelta(days=400)

    # When retention runs
    report = await apply_retention(
        store, storage, RetentionSettings(max_age_days=30, max_total_gb=0), now=later
    )

    # Then it stopped, said why, and both clips keep their stored copies in the store
    assert report.storage_unavailable is not None
    assert "does not exist" in report.storage_unavailable
    assert report.clips == []
    for clip_id in ("old-1", "old-2"):
        state = await store.get_state(clip_id)
        assert state is not None and state.status is ClipStatus.DONE and state.clip_uri
    assert not root.exists()


async def test_the_day_folder_is_the_day_of_the_time_zone_given(
    tmp_path: Path, source: Path
) -> None:
    # Given a storage whose days are in a time zone 14 hours ahead of UTC
    root = tmp_path / "clips"
    storage = LocalStorage(root, time_zone=lambda: ZoneInfo("Pacific/Kiritimati"))
    storage.ensure_root()
    # ... and a clip that starts before noon UTC on 21 November (the 22nd there)
    clip = make_clip(source)

    # When the clip is stored
    uri = await storage.put_clip(clip)

    # Then it is in that zone's day folder
    assert uri.endswith("/front_door/2026-11-22/clip-1.mp4")
    assert (root / "front_door" / "2026-11-22" / "clip-1.mp4").is_file()
