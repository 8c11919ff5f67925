"""The Dropbox target: the real SDK against the Dropbox API v2 contract server."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.offsite import (
    OffsiteAuthError,
    OffsiteError,
    OffsiteSpaceError,
)
from custom_components.homesec_nvr.core.offsite.dropbox import DropboxCredentials, DropboxTarget

from .dropbox_server import DropboxServer, Failure

CHUNK = 64 * 1024


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[DropboxServer]:
    async with DropboxServer() as dropbox_server:
        yield dropbox_server


def _target(
    server: DropboxServer,
    access: str | None = None,
    refresh: str | None = None,
    expires_at: datetime | None = None,
) -> DropboxTarget:
    if access is None:
        access, refresh = server.grant()
        expires_at = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=4)
    return DropboxTarget(
        DropboxCredentials(access, refresh, server.app_key, server.app_secret, expires_at),
        http_session=server.http_session(),
        chunk_size=CHUNK,
    )


def _file(tmp_path: Path, size: int, name: str = "clip.mp4") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


async def test_small_file_is_one_upload(server: DropboxServer, tmp_path: Path) -> None:
    # Given a file smaller than a chunk
    local = _file(tmp_path, 1000)
    target = _target(server)
    # When it is uploaded
    sent = await target.upload(local, "/HomeSec/Door/2026-12-01/clip.mp4")
    # Then one files/upload put exactly its bytes there, and the account check is a real call
    assert sent == 1000
    assert server.files["/homesec/door/2026-12-01/clip.mp4"] == local.read_bytes()
    assert server.count("files/upload") == 1
    assert server.count("files/upload_session/start") == 0
    assert await target.account() == "owner@example.com"
    await target.close()


async def test_close_ends_the_worker_thread(server: DropboxServer, tmp_path: Path) -> None:
    # Given a target whose worker thread uploaded a file
    target = _target(server)
    await target.upload(_file(tmp_path, 1000), "/HomeSec/Door/2026-12-01/clip.mp4")
    workers = [t for t in threading.enumerate() if t.name.startswith("homesec-dropbox")]
    assert workers
    # When it is closed (the hub unloads)
    await target.close()
    # Then its worker thread has ended by the time close returns
    assert not any(t.is_alive() for t in workers)


async def test_large_file_goes_by_session(server: DropboxServer, tmp_path: Path) -> None:
    # Given a file of several chunks
    local = _file(tmp_path, CHUNK * 3 + 123)
    target = _target(server)
    # When it is uploaded
    await target.upload(local, "/HomeSec/Door/2026-12-01/clip.mp4")
    # Then a session carried it: start, appends, finish; the server has every byte
    assert server.files["/homesec/door/2026-12-01/clip.mp4"] == local.read_bytes()
    assert server.count("files/upload_session/start") == 1
    assert server.count("files/upload_session/append_v2") == 2
    assert server.count("files/upload_session/finish") == 1
    assert target.pending_sessions == {}
    await target.close()


async def test_failed_append_resumes_from_the_servers_offset(
    server: DropboxServer, tmp_path: Path
) -> None:
    # Given an append that Dropbox takes but whose answer is lost (500 after the chunk landed)
    local = _file(tmp_path, CHUNK * 4)
    target = _target(server)
    remote = "/HomeSec/Door/2026-12-01/clip.mp4"
    server.fail("files/upload_session/append_v2", Failure(status=500, after_taking=True))
    # When the first attempt fails
    with pytest.raises(OffsiteError, match="server error"):
        await target.upload(local, remote)
    assert target.pending_sessions == {remote: CHUNK}
    # And the next attempt continues the same session
    await target.upload(local, remote)
    # Then it resumed at Dropbox's correct_offset: one session, no byte twice, the file whole
    assert server.files[remote.lower()] == local.read_bytes()
    assert server.count("files/upload_session/start") == 1
    assert target.pending_sessions == {}
    await target.close()


async def test_rate_limit_carries_retry_after(server: DropboxServer, tmp_path: Path) -> None:
    # Given Dropbox answers 429 with Retry-After: 7
    server.fail("files/upload", Failure(status=429, retry_after=7))
    target = _target(server)
    # When a file is uploaded
    with pytest.raises(OffsiteError) as caught:
        await target.upload(_file(tmp_path, 10), "/HomeSec/a.jpg")
    # Then the error is retryable and asks for 7 s
    assert caught.value.retryable
    assert caught.value.retry_after_s == 7.0
    await target.close()


@pytest.mark.parametrize(
    "failure", [Failure(status=500), Failure(status=503), Failure(truncate=True)]
)
async def test_server_errors_and_truncated_answers_are_retryable(
    server: DropboxServer, tmp_path: Path, failure: Failure
) -> None:
    # Given a server error or an answer cut mid-way
    server.fail("files/upload", failure)
    target = _target(server)
    local = _file(tmp_path, 10)
    # When a file is uploaded
    with pytest.raises(OffsiteError) as caught:
        await target.upload(local, "/HomeSec/a.jpg")
    # Then it is retryable (not an auth or space error) and the next attempt lands
    assert caught.value.retryable
    assert not isinstance(caught.value, (OffsiteAuthError, OffsiteSpaceError))
    await target.upload(local, "/HomeSec/a.jpg")
    assert server.files["/homesec/a.jpg"] == local.read_bytes()
    await target.close()


async def test_network_failure_is_retryable(tmp_path: Path, socket_enabled: None) -> None:
    # Given a server that has gone away
    async with DropboxServer() as gone:
        target = _target(gone)
    # When a file is uploaded
    with pytest.raises(OffsiteError, match="cannot reach Dropbox") as caught:
        await target.upload(_file(tmp_path, 10), "/HomeSec/a.jpg")
    # Then it is retryable
    assert caught.value.retryable
    await target.close()


async def test_expired_token_is_refreshed(server: DropboxServer, tmp_path: Path) -> None:
    # Given an access token that Dropbox says has expired (while HomeSec thinks it is still
    # good for an hour) and a valid refresh token
    access, refresh = server.grant()
    server.expire(access)
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    target = _target(server, access, refresh, later)
    # When a file is uploaded
    await target.upload(_file(tmp_path, 10), "/HomeSec/a.jpg")
    # Then the 401 made the SDK refresh the token once and the upload landed with the new one
    assert server.calls == ["files/upload", "oauth2/token", "files/upload"]
    assert target.access_token != access
    assert target.access_token in server.access_tokens
    assert "/homesec/a.jpg" in server.files
    await target.close()


async def test_revoked_grant_asks_for_sign_in(server: DropboxServer, tmp_path: Path) -> None:
    # Given the user revoked the app's access (refresh token gone too)
    access, refresh = server.grant()
    server.revoke()
    server.expired_tokens.add(access)
    target = _target(server, access, refresh)
    # When a file is uploaded
    with pytest.raises(OffsiteAuthError) as caught:
        await target.upload(_file(tmp_path, 10), "/HomeSec/a.jpg")
    # Then it is an auth error (not retried) and the message names no token
    assert not caught.value.retryable
    assert access not in str(caught.value) and refresh not in str(caught.value)
    await target.close()


@pytest.mark.parametrize("size", [10, CHUNK * 2 + 1])
async def test_insufficient_space(server: DropboxServer, tmp_path: Path, size: int) -> None:
    # Given a Dropbox account that is full
    server.quota_bytes = 5
    target = _target(server)
    # When a small file (files/upload) or a large one (session finish) is uploaded
    with pytest.raises(OffsiteSpaceError, match="no space left") as caught:
        await target.upload(_file(tmp_path, size), "/HomeSec/a.mp4")
    # Then the error says so and is not retried
    assert not caught.value.retryable
    assert server.files == {}
    await target.close()


async def test_list_delete_and_link(server: DropboxServer, tmp_path: Path) -> None:
    # Given two day folders of a camera
    target = _target(server)
    await target.upload(_file(tmp_path, 10), "/HomeSec/Door/2026-11-01/a.mp4")
    await target.upload(_file(tmp_path, 10), "/HomeSec/Door/2026-12-01/b.mp4")
    # When they are listed, one is linked and one folder deleted
    names = await target.list_folder("/HomeSec/Door")
    link = await target.temporary_link("/HomeSec/Door/2026-12-01/b.mp4")
    deleted = await target.delete("/HomeSec/Door/2026-11-01")
    # Then the names, a link and the deletion are what Dropbox answered
    assert names == ["2026-11-01", "2026-12-01"]
    assert link.startswith("https://")
    assert deleted is True
    assert list(server.files) == ["/homesec/door/2026-12-01/b.mp4"]
    # And missing paths are no error
    assert await target.delete("/HomeSec/Door/2026-11-01") is False
    assert await target.list_folder("/HomeSec/Nobody") == []
    await target.close()


async def test_recursive_listing_follows_the_cursor(server: DropboxServer, tmp_path: Path) -> None:
    # Given five files in two cameras' day folders, and pages of two entries
    target = _target(server)
    paths = ["Door/2026-11-01/a.mp4", "Door/2026-11-01/a.jpg", "Door/2026-12-01/b.mp4"]
    paths += ["Yard/2026-11-30/c.mp4", "Yard/2026-11-30/c.jpg"]
    for i, path in enumerate(paths):
        await target.upload(_file(tmp_path, 10 + i), f"/HomeSec/{path}")
    server.page_size = 2
    # When every file below the root is listed
    files = await target.list_files("/HomeSec")
    # Then all five come with their sizes (folders left out), over several pages
    assert sorted((f.path, f.size) for f in files) == [
        ("/homesec/door/2026-11-01/a.jpg", 11),
        ("/homesec/door/2026-11-01/a.mp4", 10),
        ("/homesec/door/2026-12-01/b.mp4", 12),
        ("/homesec/yard/2026-11-30/c.jpg", 14),
        ("/homesec/yard/2026-11-30/c.mp4", 13),
    ]
    assert server.count("files/list_folder") == 1
    assert server.count("files/list_folder/continue") >= 3  # 10 entries with the folders
    # And a missing root is an empty copy
    assert await target.list_files("/Nobody") == []
    await target.close()


@pytest.mark.parametrize("failure", [Failure(status=429, retry_after=3), Failure(status=500)])
async def test_listing_that_fails_halfway_is_retryable(
    server: DropboxServer, tmp_path: Path, failure: Failure
) -> None:
    # Given a listing of several pages whose continuation fails
    target = _target(server)
    for name in ("a", "b", "c"):
        await target.upload(_file(tmp_path, 10), f"/HomeSec/Door/2026-11-01/{name}.mp4")
    server.page_size = 1
    server.fail("files/list_folder/continue", failure)
    # When the files are listed
    with pytest.raises(OffsiteError) as caught:
        await target.list_files("/HomeSec")
    # Then the error is retryable (with the Retry-After of a 429) and the next listing works
    assert caught.value.retryable
    assert caught.value.retry_after_s == (3.0 if failure.status == 429 else None)
    assert len(await target.list_files("/HomeSec")) == 3
    await target.close()


async def test_reset_cursor_and_revoked_grant_while_listing(
    server: DropboxServer, tmp_path: Path
) -> None:
    # Given a paged listing whose cursor Dropbox resets before the next page
    target = _target(server)
    for name in ("a", "b"):
        await target.upload(_file(tmp_path, 10), f"/HomeSec/Door/2026-11-01/{name}.mp4")
    server.page_size = 1
    server.fail("files/list_folder/continue", Failure(error={".tag": "reset"}))
    # When the files are listed
    with pytest.raises(OffsiteError, match="go on listing") as caught:
        await target.list_files("/HomeSec")
    # Then it is retryable (the next listing starts over)
    assert caught.value.retryable
    assert not isinstance(caught.value, OffsiteAuthError)
    # When the user revoked the app's access and the files are listed
    server.revoke()
    server.expired_tokens.add(target.access_token)
    with pytest.raises(OffsiteAuthError):
        await target.list_files("/HomeSec")
    # Then it asks for a new sign-in
    await target.close()
