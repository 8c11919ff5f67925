"""HomeSec's FTP server with real clients (ftplib, curl): uploads become clips the moment they
complete; aborted, broken, oversized and disk-full uploads never do; logins are confined to
their own folder and wrong passwords are slowed down and blocked."""

from __future__ import annotations

import asyncio
import errno
import ftplib
import io
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from custom_components.homesec_nvr.core.sources.ftp_data import UploadSink
from custom_components.homesec_nvr.core.sources.ftp_server import port_bindable

from ..video import write_clip
from .ftp_rig import HOST, Rig, fast_config, running_rig

pytestmark = pytest.mark.usefixtures("socket_enabled")


def _upload(rig: Rig, name: str, data: bytes, user: str = "front") -> str:
    with rig.login(user, f"{user}-pw") as client:
        return client.storbinary(f"STOR {name}", io.BytesIO(data))


def _partial_files(folder: Path) -> list[Path]:
    partials = folder / ".partial"
    return sorted(partials.iterdir()) if partials.is_dir() else []


async def test_passive_upload_becomes_a_clip_at_once(tmp_path: Path) -> None:
    # Given a server with a camera login and a real H.264 clip
    clip_bytes = write_clip(tmp_path / "src.mp4").read_bytes()
    async with running_rig(tmp_path) as rig:
        # When the camera uploads it in passive mode into a dated folder
        def upload() -> str:
            with rig.login() as client:
                client.mkd("2026-12-01")
                client.cwd("2026-12-01")
                return client.storbinary("STOR 120000.mp4", io.BytesIO(clip_bytes))

        reply = await asyncio.to_thread(upload)
        clips = await rig.clips["front"].wait(1)

    # Then the upload completed and its clip was handed over, whole, with its duration
    assert reply.startswith("226")
    clip = clips[0]
    assert clip.camera_id == "cam-front"
    assert clip.source_type == "ftp"
    assert clip.path == rig.folders["front"] / "2026-12-01" / "120000.mp4"
    assert clip.path.read_bytes() == clip_bytes
    assert abs(clip.duration_s - 2.0) < 0.2
    assert clip.metadata["file_name"] == "/2026-12-01/120000.mp4"
    assert rig.clips["back"].clips == []
    assert rig.server.uploads_completed == 1
    assert rig.server.bytes_received == len(clip_bytes)


async def test_active_mode_upload(tmp_path: Path) -> None:
    # Given a camera that uses active mode (PORT)
    clip_bytes = write_clip(tmp_path / "src.mp4").read_bytes()
    async with running_rig(tmp_path) as rig:
        # When it uploads
        def upload() -> str:
            with rig.login() as client:
                client.set_pasv(False)
                return client.storbinary("STOR active.mp4", io.BytesIO(clip_bytes))

        reply = await asyncio.to_thread(upload)
        clips = await rig.clips["front"].wait(1)

    # Then the server connected back to the camera and the clip arrived
    assert reply.startswith("226")
    assert clips[0].path.read_bytes() == clip_bytes


async def test_port_to_another_host_is_refused(tmp_path: Path) -> None:
    # Given a logged-in client
    async with running_rig(tmp_path) as rig:
        # When it asks the server to connect to a third host (an FTP bounce)
        def bounce() -> str:
            with rig.login() as client:
                try:
                    client.sendcmd("PORT 10,0,0,1,4,1")
                except ftplib.error_perm as err:
                    return str(err)
                return "accepted"

        answer = await asyncio.to_thread(bounce)

    # Then the server refuses
    assert answer.startswith("504")


async def test_abort_mid_upload_discards_the_file(tmp_path: Path) -> None:
    # Given a client half way through an upload
    config = fast_config(resume_window_s=0.3)
    async with running_rig(tmp_path, config) as rig:

        def upload_and_abort() -> None:
            with rig.login() as client:
                conn = client.transfercmd("STOR aborted.mp4")
                conn.sendall(b"\0" * 200_000)
                # When the client sends ABOR before the upload ends
                client.putcmd("ABOR")
                conn.close()
                replies = [client.getline() for _ in range(2)]
                assert replies[0].startswith(("426", "226")), replies

        await asyncio.to_thread(upload_and_abort)
        await asyncio.sleep(0.6)
        partials = _partial_files(rig.folders["front"])

    # Then no clip was taken, the file never appeared and its partial is gone
    assert rig.clips["front"].clips == []
    assert not (rig.folders["front"] / "aborted.mp4").exists()
    assert partials == []
    assert rig.server.uploads_failed == 1


async def test_broken_connection_then_resume_with_rest(tmp_path: Path) -> None:
    # Given a clip whose upload breaks half way (the data connection is reset)
    clip_bytes = write_clip(tmp_path / "src.mp4", seconds=4).read_bytes()
    half = len(clip_bytes) // 2
    async with running_rig(tmp_path) as rig:

        def upload_then_break() -> None:
            with rig.login() as client:
                conn = client.transfercmd("STOR resumed.mp4")
                conn.sendall(clip_bytes[:half])
                time.sleep(0.3)  # the server has it
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST: the upload did not end normally
                with pytest.raises(ftplib.error_temp):
                    client.voidresp()

        await asyncio.to_thread(upload_then_break)
        await asyncio.sleep(0.2)
        broken_clips = list(rig.clips["front"].clips)

        # When the camera asks how much arrived and resumes from there with REST
        def resume() -> tuple[int | None, str]:
            with rig.login() as client:
                client.voidcmd("TYPE I")
                offset = client.size("resumed.mp4")
                assert offset is not None
                reply = client.storbinary(
                    "STOR resumed.mp4", io.BytesIO(clip_bytes[offset:]), rest=offset
                )
                return offset, reply

        offset, reply = await asyncio.to_thread(resume)
        clips = await rig.clips["front"].wait(1)

    # Then the broken upload gave no clip, and the resumed one gave one clip of the whole file
    assert broken_clips == []
    assert 0 < (offset or 0) <= half
    assert reply.startswith("226")
    assert len(clips) == 1
    assert clips[0].path.read_bytes() == clip_bytes


async def test_rest_beyond_what_arrived_is_refused(tmp_path: Path) -> None:
    # Given no partial upload of a file
    async with running_rig(tmp_path) as rig:
        # When a client asks to resume it at an offset
        def resume() -> str:
            with rig.login() as client:
                try:
                    client.storbinary("STOR nothing.mp4", io.BytesIO(b"x" * 10), rest=1000)
                except ftplib.error_perm as err:
                    return str(err)
                return "accepted"

        answer = await asyncio.to_thread(resume)

    # Then the server refuses, and nothing is taken
    assert answer.startswith("554")
    assert rig.clips["front"].clips == []


async def test_upload_over_the_size_limit_is_refused_with_552(tmp_path: Path) -> None:
    # Given a server taking uploads of at most 100 kB
    config = fast_config(max_upload_bytes=100_000)
    async with running_rig(tmp_path, config) as rig:
        # When a camera uploads 1 MB
        def upload() -> str:
            try:
                _upload(rig, "huge.mp4", b"\0" * 1_000_000)
            except (ftplib.error_perm, ConnectionError) as err:
                return str(err)
            return "accepted"

        answer = await asyncio.to_thread(upload)
        await asyncio.sleep(0.1)
        partials = _partial_files(rig.folders["front"])

    # Then it is refused with 552 and nothing of it stays
    assert answer.startswith("552")
    assert rig.clips["front"].clips == []
    assert not (rig.folders["front"] / "huge.mp4").exists()
    assert partials == []


async def test_disk_full_is_answered_with_452(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a disk that is full (the operating system refuses the write)
    def no_space(self: UploadSink, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(UploadSink, "_write", no_space)
    async with running_rig(tmp_path) as rig:
        # When a camera uploads a clip
        def upload() -> str:
            try:
                _upload(rig, "full.mp4", b"\0" * 3_000_000)
            except (ftplib.error_temp, ConnectionError) as err:
                return str(err)
            return "accepted"

        answer = await asyncio.to_thread(upload)
        await asyncio.sleep(0.1)
        partials = _partial_files(rig.folders["front"])

        # Then the answer is 452, nothing is kept, and the server still takes uploads
        monkeypatch.undo()
        later = await asyncio.to_thread(_upload, rig, "later.mp4", b"\0" * 1000)

    assert answer.startswith("452")
    assert partials == []
    assert later.startswith("226")


async def test_traversal_and_other_folders_are_refused(tmp_path: Path) -> None:
    # Given two camera logins, a file outside the FTP folders and a symlink pointing out
    outside = tmp_path / "secret.mp4"
    outside.write_text("host file")
    async with running_rig(tmp_path) as rig:
        (rig.folders["front"] / "escape").symlink_to(tmp_path)
        await asyncio.to_thread(_upload, rig, "back-only.mp4", b"\0" * 100, "back")

        # When the front camera tries to climb out, reach the back camera's folder or the host
        def attempts() -> dict[str, str]:
            results: dict[str, str] = {}
            with rig.login() as client:
                for label, call in {
                    "cwd ..": lambda: client.sendcmd("CWD .."),
                    "cwd ../back": lambda: client.cwd("../back"),
                    "stor ../x": lambda: client.storbinary("STOR ../x.mp4", io.BytesIO(b"1")),
                    "stor deep": lambda: client.storbinary(
                        "STOR a/../../../secret.mp4", io.BytesIO(b"1")
                    ),
                    "symlink": lambda: client.storbinary(
                        "STOR escape/secret.mp4", io.BytesIO(b"1")
                    ),
                    "hidden": lambda: client.storbinary("STOR .partial/x.part", io.BytesIO(b"1")),
                    "size back": lambda: client.size("/../back/back-only.mp4"),
                }.items():
                    try:
                        call()
                    except ftplib.error_perm as err:
                        results[label] = str(err)[:3]
                    else:
                        results[label] = "allowed"
                # CDUP at the top stays at the top
                client.cwd("..")
                results["pwd"] = client.pwd()
                # An absolute path is taken from the login's own root, never the host's
                client.storbinary(f"STOR {outside}", io.BytesIO(b"camera data"))
                results["listing"] = ",".join(client.nlst("/"))
            return results

        results = await asyncio.to_thread(attempts)
        clips = await rig.clips["front"].wait(1)

    # Then every escape is refused and the host's file is untouched
    assert {k: v for k, v in results.items() if k not in ("listing", "pwd")} == {
        "cwd ..": "553",
        "cwd ../back": "553",
        "stor ../x": "553",
        "stor deep": "553",
        "symlink": "553",
        "hidden": "553",
        "size back": "553",
    }
    assert results["pwd"] == "/"
    assert outside.read_text() == "host file"
    assert [c.path for c in clips] == [rig.folders["front"] / str(outside).lstrip("/")]
    assert clips[0].path.read_bytes() == b"camera data"
    assert "back-only.mp4" not in results["listing"]


async def test_wrong_passwords_are_slowed_logged_without_password_and_blocked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a server that blocks an address after 3 wrong passwords
    async with running_rig(tmp_path) as rig:
        # When a client tries 3 wrong passwords, then the right one
        def guess() -> list[str]:
            answers = []
            for attempt in range(3):
                client = ftplib.FTP()
                client.connect(HOST, rig.port, timeout=10)
                try:
                    client.login("front", f"guess-{attempt}-secret")
                except (ftplib.error_perm, ftplib.error_temp) as err:
                    answers.append(str(err)[:3])
                finally:
                    client.close()
            try:
                rig.login("front", "front-pw")
            except (ftplib.error_temp, EOFError, ConnectionError) as err:
                answers.append(str(err)[:3])
            return answers

        with caplog.at_level(logging.WARNING):
            answers = await asyncio.to_thread(guess)

    # Then two were refused, the third blocked the address, and even the right password is
    # refused while it is blocked; the log names the user, never a password
    assert answers == ["530", "530", "421", "421"]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "FTP login failed for user 'front' from 127.0.0.1" in messages
    assert "secret" not in messages
    assert rig.server.limiter.failures_total == 3


async def test_too_many_sessions_get_421(tmp_path: Path) -> None:
    # Given a server taking 2 sessions at once, with 2 connected
    async with running_rig(tmp_path, fast_config(max_sessions=2)) as rig:

        def third() -> str:
            first, second = rig.login(), rig.login()
            try:
                client = ftplib.FTP()
                # When a third connects
                try:
                    client.connect(HOST, rig.port, timeout=10)
                except ftplib.error_temp as err:
                    return str(err)
                finally:
                    client.close()
                return "accepted"
            finally:
                first.close()
                second.close()

        answer = await asyncio.to_thread(third)
        # Then it is refused with 421, and once the others left a new one is taken
        await asyncio.sleep(0.2)
        again = await asyncio.to_thread(_upload, rig, "after.mp4", b"\0" * 10)

    assert answer.startswith("421")
    assert again.startswith("226")
    assert rig.server.sessions_refused == 1


async def test_idle_session_is_closed(tmp_path: Path) -> None:
    # Given a server that closes sessions idle for 0.3 s
    async with running_rig(tmp_path, fast_config(idle_timeout_s=0.3)) as rig:
        # When a client logs in and says nothing
        def idle() -> str:
            client = rig.login()
            try:
                return client.getline()
            finally:
                client.close()

        line = await asyncio.to_thread(idle)
        await asyncio.sleep(0.1)
        sessions = len(rig.server.sessions)

    # Then the server says why and closes the session
    assert line.startswith("421")
    assert sessions == 0


async def test_many_cameras_upload_at_once_from_threads(tmp_path: Path) -> None:
    # Given 8 clients (threads) with 3 different clips each, over both logins
    clip_bytes = write_clip(tmp_path / "src.mp4").read_bytes()
    async with running_rig(tmp_path, fast_config(max_sessions=16)) as rig:
        errors: list[BaseException] = []

        def camera(index: int) -> None:
            user = "front" if index % 2 else "back"
            try:
                with rig.login(user, f"{user}-pw") as client:
                    for n in range(3):
                        client.storbinary(
                            f"STOR c{index}-{n}.mp4", io.BytesIO(clip_bytes + bytes([index, n]))
                        )
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        # When they all upload at the same time
        def run_all() -> None:
            threads = [threading.Thread(target=camera, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        await asyncio.to_thread(run_all)
        front = await rig.clips["front"].wait(12)
        back = await rig.clips["back"].wait(12)

    # Then every upload became exactly one clip of its own camera
    assert errors == []
    assert sorted(c.path.name for c in front) == sorted(
        f"c{i}-{n}.mp4" for i in range(1, 8, 2) for n in range(3)
    )
    assert len({c.clip_id for c in front + back}) == 24
    assert all(c.camera_id == "cam-back" for c in back)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_upload(tmp_path: Path) -> None:
    # Given a clip and curl
    source = write_clip(tmp_path / "curl.mp4")
    async with running_rig(tmp_path) as rig:
        # When curl uploads it (passive mode, EPSV)
        result = await asyncio.to_thread(
            subprocess.run,
            ["curl", "-sS", "-T", str(source), f"ftp://front:front-pw@{HOST}:{rig.port}/"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        clips = await rig.clips["front"].wait(1)

    # Then curl succeeded and the clip arrived
    assert result.returncode == 0, result.stderr
    assert clips[0].path.read_bytes() == source.read_bytes()
    assert clips[0].metadata["file_name"] == "/curl.mp4"


async def test_other_files_are_accepted_and_discarded(tmp_path: Path) -> None:
    # Given a camera that uploads a test file when its FTP settings are saved
    async with running_rig(tmp_path) as rig:
        # When it uploads it
        reply = await asyncio.to_thread(_upload, rig, "test.txt", b"FTP test")
        await asyncio.sleep(0.2)

    # Then the camera's test passes, no clip is made and the file is gone
    assert reply.startswith("226")
    assert rig.clips["front"].clips == []
    assert not (rig.folders["front"] / "test.txt").exists()
    assert rig.sources["front"].files_discarded == 1


async def test_stopping_frees_the_port(tmp_path: Path) -> None:
    # Given a running server
    async with running_rig(tmp_path) as rig:
        port = rig.port
        bound_while_running = await asyncio.to_thread(port_bindable, HOST, port)

    # When it stops, Then its port can be bound again
    assert not bound_while_running
    assert await asyncio.to_thread(port_bindable, HOST, port)


async def test_downloads_are_not_offered(tmp_path: Path) -> None:
    # Given an uploaded file
    async with running_rig(tmp_path) as rig:
        await asyncio.to_thread(_upload, rig, "x.txt", b"1")

        # When a client tries to download
        def download() -> str:
            with rig.login() as client:
                try:
                    client.retrbinary("RETR x.txt", lambda _b: None)
                except ftplib.error_perm as err:
                    return str(err)
                return "downloaded"

        answer = await asyncio.to_thread(download)

    # Then it is refused
    assert answer.startswith("550")


async def test_leftover_files_are_cleaned_up_at_start(tmp_path: Path) -> None:
    # Given a folder an earlier run left a partial upload in
    folder = tmp_path / "ftp" / "front" / ".partial"
    folder.mkdir(parents=True)
    (folder / "x.mp4.part").write_bytes(b"half")

    # When the server starts with that login
    async with running_rig(tmp_path):
        pass

    # Then the partial is removed
    assert os.listdir(folder) == []


async def test_the_same_name_uploaded_again_never_overwrites_a_waiting_clip(
    tmp_path: Path,
) -> None:
    # Given a camera that always uploads under the same name, and a slow pipeline that has not
    # taken the first upload yet
    first = write_clip(tmp_path / "one.mp4", seconds=2).read_bytes()
    second = write_clip(tmp_path / "two.mp4", seconds=3).read_bytes()
    async with running_rig(tmp_path) as rig:
        # When it uploads twice in a row
        await asyncio.to_thread(_upload, rig, "motion.mp4", first)
        await asyncio.to_thread(_upload, rig, "motion.mp4", second)
        clips = await rig.clips["front"].wait(2)

    # Then both clips exist side by side, each with its own content
    assert clips[0].path != clips[1].path
    assert sorted([clips[0].path.read_bytes(), clips[1].path.read_bytes()]) == sorted(
        [first, second]
    )
    names = sorted(str(c.metadata["file_name"]) for c in clips)
    assert names[0].startswith("/motion-")
    assert names[1] == "/motion.mp4"


async def test_a_data_connection_no_transfer_used_is_closed_when_the_session_ends(
    tmp_path: Path,
) -> None:
    # Given a logged-in camera that opened a passive data connection
    async with running_rig(tmp_path) as rig:

        def unused_data_connection() -> bytes:
            client = rig.login()
            host, port = ftplib.parse227(client.sendcmd("PASV"))
            with socket.create_connection((host, port), timeout=5) as data:
                # When it quits without any transfer
                client.quit()
                client.close()
                # Then the server closes that data connection too (end of file, at once)
                return data.recv(1)

        assert await asyncio.to_thread(unused_data_connection) == b""
        assert rig.server.uploads_completed == 0
