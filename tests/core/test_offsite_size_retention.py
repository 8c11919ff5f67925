"""Off-site retention by size: the copier deletes the oldest day folders (never today's) until
the copy fits its limit, on the real SDK against the Dropbox contract server."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.offsite import OffsiteAuthError, RemoteFile
from custom_components.homesec_nvr.core.offsite.copier import OffsiteCopier
from custom_components.homesec_nvr.core.offsite.size_retention import GB, over_the_limit
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from .dropbox_server import DropboxServer
from .test_offsite_copier import FAST, _stored_clip, _target

NOW = datetime.now(UTC)


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[DropboxServer]:
    async with DropboxServer() as dropbox_server:
        yield dropbox_server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncGenerator[ClipStore]:
    clip_store = ClipStore(tmp_path / "homesec.db")
    await clip_store.open()
    yield clip_store
    await clip_store.close()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    local = LocalStorage(tmp_path / "clips")
    local.ensure_root()
    return local


def _day(days_ago: int) -> str:
    return (NOW - timedelta(days=days_ago)).date().isoformat()


def _put(server: DropboxServer, camera: str, days_ago: int, name: str, size: int) -> None:
    server.files[f"/homesec/{camera}/{_day(days_ago)}/{name}"] = b"x" * size


async def test_oldest_day_folders_go_until_the_copy_fits(
    server: DropboxServer, store: ClipStore, storage: LocalStorage
) -> None:
    # Given 1200 bytes in four day folders of two cameras, listed in pages of two entries
    _put(server, "door", 5, "a.mp4", 300)
    _put(server, "yard", 4, "b.mp4", 200)
    _put(server, "yard", 4, "b.jpg", 100)
    _put(server, "door", 3, "c.mp4", 300)
    _put(server, "door", 0, "d.mp4", 300)
    server.page_size = 2
    settings = replace(FAST, retention_days=30, max_total_gb=700 / GB)
    target = _target(server)
    copier = OffsiteCopier(store, storage, target, settings)
    # When the off-site retention runs with a limit of 700 bytes
    deleted = await copier.apply_remote_retention(NOW)
    # Then the two oldest day folders are gone (600 bytes left), whichever camera they are of
    assert deleted == 2
    assert sorted(server.files) == [
        f"/homesec/door/{_day(3)}/c.mp4",
        f"/homesec/door/{_day(0)}/d.mp4",
    ]
    assert server.count("files/list_folder/continue") >= 1
    assert copier.status.remote_deleted == 2
    await target.close()


async def test_todays_folder_is_kept_over_the_limit(
    server: DropboxServer, store: ClipStore, storage: LocalStorage
) -> None:
    # Given a copy of today only, larger than the limit
    _put(server, "door", 0, "a.mp4", 5000)
    target = _target(server)
    copier = OffsiteCopier(store, storage, target, replace(FAST, max_total_gb=1000 / GB))
    # When the off-site retention runs
    deleted = await copier.apply_remote_retention(NOW)
    # Then nothing is deleted: today's clips are never dropped for size
    assert deleted == 0
    assert list(server.files) == [f"/homesec/door/{_day(0)}/a.mp4"]
    assert server.count("files/delete_v2") == 0
    await target.close()


async def test_no_limit_lists_nothing_recursively(
    server: DropboxServer, store: ClipStore, storage: LocalStorage
) -> None:
    # Given a large copy and no size limit (0 GB)
    _put(server, "door", 3, "a.mp4", 5000)
    target = _target(server)
    copier = OffsiteCopier(store, storage, target, replace(FAST, max_total_gb=0))
    # When the off-site retention runs
    deleted = await copier.apply_remote_retention(NOW)
    # Then nothing is deleted, and only the day listing of the days retention was made
    assert deleted == 0
    assert len(server.files) == 1
    assert server.count("files/list_folder") == 2  # the root and the camera, not recursive
    await target.close()


async def test_full_account_gets_space_back_before_the_copy(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given a full Dropbox account (an old day folder fills it) and a clip waiting for its copy
    _put(server, "front door", 10, "old.mp4", 2000)
    server.quota_bytes = 2500
    await _stored_clip(store, storage, tmp_path, "new", size=1000)
    target = _target(server)
    copier = OffsiteCopier(store, storage, target, replace(FAST, max_total_gb=1500 / GB))
    # When the copier runs its first pass of the day
    copied = await copier.run_once()
    # Then the size retention freed the old folder first, and the clip was copied
    assert copied == 1
    assert all(_day(0) in path for path in server.files)
    assert f"/homesec/front door/{_day(0)}/new.mp4" in server.files
    await target.close()


async def test_revoked_grant_stops_the_size_retention(
    server: DropboxServer, store: ClipStore, storage: LocalStorage
) -> None:
    # Given a grant the user revoked
    _put(server, "door", 5, "a.mp4", 3000)
    target = _target(server)
    server.revoke()
    server.expired_tokens.add(target.access_token)
    copier = OffsiteCopier(
        store, storage, target, replace(FAST, retention_days=0, max_total_gb=1000 / GB)
    )
    # When the off-site retention runs
    with pytest.raises(OffsiteAuthError):
        await copier.apply_remote_retention(NOW)
    # Then it asks for a sign-in, nothing was deleted, and it runs again on the next pass
    assert server.count("files/delete_v2") == 0
    assert copier._retention_day is None
    await target.close()


def test_files_outside_day_folders_count_but_stay() -> None:
    # Given 900 bytes outside day folders and 200 in one old day folder, a 1000-byte limit
    files = [
        RemoteFile("/homesec/notes.txt", 900),
        RemoteFile("/homesec/door/2026-11-01/a.mp4", 200),
        RemoteFile("/homesec/door/misc/b.mp4", 50),
    ]
    # When the folders over the limit are picked
    doomed = over_the_limit("/HomeSec", files, 1000 / GB, date(2026, 12, 1))
    # Then the day folder goes (1150 -> 950 bytes); the other files are never picked
    assert [f.path for f in doomed] == ["/homesec/door/2026-11-01"]
