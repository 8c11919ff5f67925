"""The off-site copy stage: a real store and local storage, the real SDK against the Dropbox
contract server; local retention never deletes a clip whose required copy is missing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.models import Clip, ClipState, ClipStatus
from custom_components.homesec_nvr.core.offsite.copier import (
    BLOCKED_AUTH,
    BLOCKED_SPACE,
    OffsiteCopier,
    OffsiteSettings,
)
from custom_components.homesec_nvr.core.offsite.dropbox import DropboxCredentials, DropboxTarget
from custom_components.homesec_nvr.core.retention import RetentionSettings, apply_retention
from custom_components.homesec_nvr.core.runner import Backoff
from custom_components.homesec_nvr.core.storage.local import LocalStorage
from custom_components.homesec_nvr.core.store import ClipStore

from .dropbox_server import DropboxServer, Failure

CHUNK = 64 * 1024
NOW = datetime.now(UTC)
FAST = OffsiteSettings(
    root="HomeSec",
    retention_days=30,
    backoff=Backoff(base_delay_s=0.05, max_delay_s=0.2),
    catch_up_interval_s=30.0,
    max_retry_after_s=0.3,
)


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


def _target(server: DropboxServer) -> DropboxTarget:
    access, refresh = server.grant()
    expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=4)
    return DropboxTarget(
        DropboxCredentials(access, refresh, server.app_key, server.app_secret, expires),
        http_session=server.http_session(),
        chunk_size=CHUNK,
    )


async def _stored_clip(
    store: ClipStore,
    storage: LocalStorage,
    tmp_path: Path,
    clip_id: str,
    *,
    size: int,
    start: datetime = NOW,
) -> ClipState:
    """A finished clip that local storage holds, with its snapshot."""
    source = tmp_path / f"{clip_id}-source.mp4"
    source.write_bytes(os.urandom(size))
    clip = Clip(clip_id, "cam1", "Front door", "test", source, start, start + timedelta(seconds=5))
    clip_uri = await storage.put_clip(clip)
    snapshot_uri = await storage.put_snapshot(clip, b"\xff\xd8jpeg\xff\xd9")
    state = ClipState(
        clip_id=clip_id,
        camera_id="cam1",
        camera_name="Front door",
        source_type="test",
        source_path=str(source),
        status=ClipStatus.DONE,
        start_ts=start,
        end_ts=start + timedelta(seconds=5),
        created_at=start,
        updated_at=start,
        clip_uri=clip_uri,
        snapshot_uri=snapshot_uri,
        upload_done=True,
    )
    await store.upsert_state(state)
    return state


def _day(start: datetime = NOW) -> str:
    return start.date().isoformat()


async def test_backlog_is_copied_with_layout_and_snapshots(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given a small clip and a large one (upload session) stored locally
    await _stored_clip(store, storage, tmp_path, "small", size=1000)
    await _stored_clip(store, storage, tmp_path, "large", size=CHUNK * 3 + 5)
    copier = OffsiteCopier(store, storage, _target(server), FAST)
    # When the copier runs a pass
    copied = await copier.run_once()
    # Then both clips and snapshots are at /<root>/<camera>/<day>/ and the backlog is empty
    folder = f"/homesec/front door/{_day()}"
    assert copied == 2
    assert sorted(server.files) == sorted(
        f"{folder}/{name}" for name in ("small.mp4", "small.jpg", "large.mp4", "large.jpg")
    )
    assert server.count("files/upload_session/finish") == 1
    assert copier.status.backlog == 0
    assert await store.offsite_backlog_count(FAST.window_start(NOW)) == 0
    # And saving the clip's state again (the pipeline) keeps it copied
    state = await store.get_state("small")
    assert state is not None
    await store.upsert_state(replace(state, notified=True))
    assert await store.offsite_backlog(FAST.window_start(NOW)) == []
    await copier.target.close()  # type: ignore[attr-defined]


async def test_outage_is_retried_with_backoff_and_caught_up(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given Dropbox answers 500, then 429 with Retry-After, then works again
    await _stored_clip(store, storage, tmp_path, "c1", size=100)
    server.fail("files/upload", Failure(status=500), Failure(status=429, retry_after=1))
    changes: list[int] = []
    copier = OffsiteCopier(store, storage, _target(server), FAST)
    copier._on_change = lambda: changes.append(copier.status.backlog)
    # When the copier runs in the background
    copier.start()
    async with asyncio.timeout(10):
        while copier.status.copied < 1 or copier.status.last_error is not None:
            await asyncio.sleep(0.02)
    # Then it failed twice, waited, and copied the clip; the error is cleared
    assert copier.status.failures == 2
    assert server.count("files/upload") == 4  # 500, 429, clip, snapshot
    assert copier.status.last_error is None and copier.status.blocked is None
    # And a clip stored later is copied when the copier is told
    await _stored_clip(store, storage, tmp_path, "c2", size=100)
    copier.notify()
    async with asyncio.timeout(10):
        while copier.status.copied < 2:
            await asyncio.sleep(0.02)
    assert f"/homesec/front door/{_day()}/c2.mp4" in server.files
    await copier.stop()
    await copier.target.close()  # type: ignore[attr-defined]


async def test_revoked_grant_blocks_until_resumed(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given a grant the user revoked
    await _stored_clip(store, storage, tmp_path, "c1", size=100)
    target = _target(server)
    server.revoke()
    server.expired_tokens.add(target.access_token)
    copier = OffsiteCopier(store, storage, target, FAST)
    # When the copier runs
    copier.start()
    async with asyncio.timeout(10):
        while copier.status.blocked is None:
            await asyncio.sleep(0.02)
    # Then it is blocked on the sign-in and stays so (no retry storm)
    assert copier.status.blocked == BLOCKED_AUTH
    calls = len(server.calls)
    await asyncio.sleep(0.3)
    assert len(server.calls) == calls
    # When the user signs in again
    copier.resume(_target(server))
    async with asyncio.timeout(10):
        while copier.status.copied < 1:
            await asyncio.sleep(0.02)
    # Then copying goes on
    assert copier.status.blocked is None
    await copier.stop()
    await copier.target.close()  # type: ignore[attr-defined]
    await target.close()


async def test_full_account_is_reported(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given a Dropbox account without space
    await _stored_clip(store, storage, tmp_path, "c1", size=100)
    server.quota_bytes = 10
    copier = OffsiteCopier(store, storage, _target(server), FAST)
    # When the copier runs
    copier.start()
    async with asyncio.timeout(10):
        while copier.status.blocked is None:
            await asyncio.sleep(0.02)
    # Then it says the account is full and the clip stays in the backlog
    assert copier.status.blocked == BLOCKED_SPACE
    assert "no space left" in (copier.status.last_error or "")
    assert copier.status.backlog == 1
    await copier.stop()
    await copier.target.close()  # type: ignore[attr-defined]


async def test_remote_retention_deletes_old_day_folders(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given copies from 40 days ago and from today
    old = NOW - timedelta(days=40)
    target = _target(server)
    for start, name in ((old, "old"), (NOW, "new")):
        local = tmp_path / f"{name}.mp4"
        local.write_bytes(b"x")
        await target.upload(local, f"/HomeSec/Front door/{_day(start)}/{name}.mp4")
    copier = OffsiteCopier(store, storage, target, FAST)
    # When the off-site retention (30 days) runs
    deleted = await copier.apply_remote_retention(NOW)
    # Then the old day folder is gone from Dropbox and today's is kept
    assert deleted == 1
    assert list(server.files) == [f"/homesec/front door/{_day()}/new.mp4"]
    await target.close()


async def test_remote_retention_leaves_folders_that_only_look_like_dates(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given old folders of the user's own under a camera's folder whose names Python also
    # reads as dates (basic and week forms), beside an old HomeSec day folder
    old = NOW - timedelta(days=400)
    target = _target(server)
    local = tmp_path / "x.mp4"
    local.write_bytes(b"x")
    names = (_day(old), old.strftime("%Y%m%d"), old.strftime("%G-W%V-%u"))
    for name in names:
        await target.upload(local, f"/HomeSec/Front door/{name}/x.mp4")
    copier = OffsiteCopier(store, storage, target, FAST)
    # When the off-site retention (30 days) runs
    deleted = await copier.apply_remote_retention(NOW)
    # Then only HomeSec's YYYY-MM-DD folder is deleted
    assert deleted == 1
    kept = sorted(f"/homesec/front door/{n.lower()}/x.mp4" for n in names[1:])
    assert sorted(server.files) == kept
    await target.close()


async def test_local_retention_keeps_a_clip_whose_copy_is_missing(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given two clips past the local retention (2 days old, local keeps 1 day), one copied
    two_days_ago = NOW - timedelta(days=2)
    copied = await _stored_clip(store, storage, tmp_path, "copied", size=10, start=two_days_ago)
    await store.mark_offsite_done(copied.clip_id)
    waiting = await _stored_clip(store, storage, tmp_path, "waiting", size=10, start=two_days_ago)
    settings = RetentionSettings(max_age_days=1, max_total_gb=0, offsite_copy_days=30)
    # When the local retention runs
    report = await apply_retention(store, storage, settings, now=NOW)
    # Then only the copied clip is deleted; the uncopied one keeps its local file
    assert report.clips == ["copied"]
    assert waiting.clip_uri is not None
    kept = storage.local_path(waiting.clip_uri)
    assert kept is not None and kept.is_file()
    # And once its copy exists, retention deletes it too
    await store.mark_offsite_done("waiting")
    report = await apply_retention(store, storage, settings, now=NOW)
    assert report.clips == ["waiting"]
    assert not kept.exists()


async def test_a_bug_in_a_pass_does_not_end_the_copying(
    server: DropboxServer,
    store: ClipStore,
    storage: LocalStorage,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a target whose first upload fails with an unexpected error (a bug)
    class Flaky(DropboxTarget):
        calls = 0

        async def upload(self, local: Path, remote: str) -> int:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("boom")
            return await super().upload(local, remote)

    access, refresh = server.grant()
    target = Flaky(
        DropboxCredentials(access, refresh, server.app_key, server.app_secret),
        http_session=server.http_session(),
    )
    await _stored_clip(store, storage, tmp_path, "c1", size=100)
    copier = OffsiteCopier(store, storage, target, FAST)
    # When the copier runs
    copier.start()
    async with asyncio.timeout(10):
        while copier.status.copied < 1:
            await asyncio.sleep(0.02)
    # Then the bug was logged with its traceback, and the next pass copied the clip
    assert "Off-site copy failed unexpectedly" in caplog.text
    assert "/homesec/front door/" + _day() + "/c1.mp4" in server.files
    await copier.stop()
    await target.close()


async def test_only_the_chosen_cameras_are_copied_and_kept(
    server: DropboxServer, store: ClipStore, storage: LocalStorage, tmp_path: Path
) -> None:
    # Given clips of two cameras, and an off-site copy of camera "cam1" only
    two_days_ago = NOW - timedelta(days=2)
    await _stored_clip(store, storage, tmp_path, "mine", size=10, start=two_days_ago)
    other = await _stored_clip(store, storage, tmp_path, "other", size=10, start=two_days_ago)
    await store.upsert_state(replace(other, camera_id="cam2", camera_name="Garden"))
    copier = OffsiteCopier(
        store, storage, _target(server), replace(FAST, cameras=frozenset({"cam1"}))
    )
    settings = RetentionSettings(
        max_age_days=1, max_total_gb=0, offsite_copy_days=30, offsite_cameras=frozenset({"cam1"})
    )
    # When the local retention runs before any copy
    report = await apply_retention(store, storage, settings, now=NOW)
    # Then the other camera's clip (no copy required) is deleted; cam1's uncopied one is kept
    assert report.clips == ["other"]
    # When the copier runs
    copied = await copier.run_once()
    # Then only cam1's clip went to Dropbox, and the backlog counts cam1 only
    assert copied == 1
    assert all("/front door/" in k for k in server.files)
    assert copier.status.backlog == 0
    await copier.target.close()  # type: ignore[attr-defined]
