"""FTP upload source: one camera's login on HomeSec's FTP server (ftp_server.py).

A clip is taken the moment its upload completes (the server calls `on_upload` as the STOR
ends; nothing is polled). A video file becomes a clip as it is; JPEG snapshots are collected
into one short H.264 clip per event (ftp_snapshots.py). Other files (a camera's connection
test, say) are removed. Files a previous run left complete in the folder are taken at start
(the store dedupes what it already has: a clip id depends on the path, size and time).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..interfaces import ClipCallback, ClipSource
from ..media import probe_duration
from ..models import Clip
from .ftp_auth import FtpAccount
from .ftp_server import FtpServer
from .ftp_snapshots import JPEG_EXTENSIONS, Snapshot, SnapshotError, SnapshotSeries, encode_series
from .local_folder import VIDEO_EXTENSIONS, make_clip_id

_LOGGER = logging.getLogger(__name__)

SOURCE_TYPE = "ftp"
# Assembled snapshot clips (hidden from the FTP client).
EVENTS_DIR = ".events"
DEFAULT_SNAPSHOT_GAP_S = 5.0


class FtpSource(ClipSource):
    """Takes one camera's uploads from the hub's FTP server."""

    source_type = SOURCE_TYPE

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        server: FtpServer,
        username: str,
        password: str,
        root: Path,
        snapshot_gap_s: float = DEFAULT_SNAPSHOT_GAP_S,
    ) -> None:
        self._camera_id = camera_id
        self._camera_name = camera_name
        self._server = server
        self._account = FtpAccount(username, password, root, self._on_upload, camera_name)
        self._root = root
        self._on_clip: ClipCallback | None = None
        self._series = SnapshotSeries(snapshot_gap_s, self._encode)
        self.clips_emitted = 0
        self.snapshot_clips = 0
        self.files_discarded = 0
        self.files_failed = 0
        self.last_upload: datetime | None = None
        self.last_error: str | None = None

    @property
    def username(self) -> str:
        return self._account.username

    async def start(self, on_clip: ClipCallback) -> None:
        self._on_clip = on_clip
        await self._server.add_account(self._account)
        loop = asyncio.get_running_loop()
        videos, pictures = await loop.run_in_executor(None, _leftovers, self._root)
        for virtual, path, size in videos:
            # An assembled clip keeps the id it was made with (its file's name).
            clip_id = path.stem if virtual.startswith(f"/{EVENTS_DIR}/") else None
            await self._take_video(virtual, path, size, clip_id)
        for snapshot in pictures:
            self._series.add(snapshot)
        if pictures:
            self._series.flush()

    async def stop(self) -> None:
        if self._server.accounts.get(self._account.username) is self._account:
            self._server.remove_account(self._account.username)
        await self._series.stop()
        self._on_clip = None

    def diagnostics(self) -> dict[str, Any]:
        return {
            "username": self._account.username,
            "folder": str(self._root),
            "server_listening": self._server.listening.is_set(),
            "server_error": self._server.last_error,
            "last_upload": self.last_upload.isoformat() if self.last_upload else None,
            "clips_emitted": self.clips_emitted,
            "snapshot_clips": self.snapshot_clips,
            "snapshots_pending": self._series.pending,
            "files_discarded": self.files_discarded,
            "files_failed": self.files_failed,
            "last_error": self.last_error,
        }

    # -- uploads --------------------------------------------------------------------------

    async def _on_upload(self, account: FtpAccount, virtual: str, path: Path, size: int) -> None:
        self.last_upload = datetime.now(UTC)
        extension = os.path.splitext(virtual)[1].lower()
        if extension in VIDEO_EXTENSIONS:
            await self._take_video(virtual, path, size)
        elif extension in JPEG_EXTENSIONS:
            arrived = await asyncio.get_running_loop().run_in_executor(None, _mtime_ns, path)
            self._series.add(Snapshot(path, virtual, arrived or 0))
        else:
            # Neither a clip nor a picture (a camera's connection test, for example).
            self.files_discarded += 1
            _LOGGER.debug("Camera %s: discarded upload %s", self._camera_name, virtual)
            await asyncio.get_running_loop().run_in_executor(None, _remove, path)

    async def _take_video(
        self, virtual: str, path: Path, size: int, clip_id: str | None = None
    ) -> None:
        duration, mtime_ns = await asyncio.get_running_loop().run_in_executor(None, _probe, path)
        end_ts = datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC)
        clip = Clip(
            clip_id=clip_id or make_clip_id(self._camera_id, virtual, size, mtime_ns),
            camera_id=self._camera_id,
            camera_name=self._camera_name,
            source_type=SOURCE_TYPE,
            path=path,
            start_ts=end_ts - timedelta(seconds=duration or 0.0),
            end_ts=end_ts,
            metadata={"file_name": virtual, "size_bytes": size, "duration_s": duration},
        )
        await self._submit(clip)

    async def _encode(self, series: list[Snapshot]) -> None:
        first = min(series, key=lambda s: s.arrived_ns)
        stem = Path(first.virtual).stem
        clip_id = make_clip_id(self._camera_id, first.virtual, len(series), first.arrived_ns)
        target = self._root / EVENTS_DIR / f"{clip_id}.mp4"
        loop = asyncio.get_running_loop()
        try:
            frames, duration = await loop.run_in_executor(None, encode_series, series, target)
        except (SnapshotError, OSError, ValueError) as err:
            self.files_failed += len(series)
            self.last_error = f"snapshots from {stem} could not be made a clip: {err}"
            _LOGGER.warning("Camera %s: %s", self._camera_name, self.last_error)
            frames, duration = 0, 0.0
        finally:
            for snapshot in series:
                await loop.run_in_executor(None, _remove, snapshot.path)
        if not frames:
            return
        start_ts = datetime.fromtimestamp(first.arrived_ns / 1e9, tz=UTC)
        clip = Clip(
            clip_id=clip_id,
            camera_id=self._camera_id,
            camera_name=self._camera_name,
            source_type=SOURCE_TYPE,
            path=target,
            start_ts=start_ts,
            end_ts=start_ts + timedelta(seconds=duration),
            metadata={"file_name": first.virtual, "snapshots": frames, "duration_s": duration},
        )
        self.snapshot_clips += 1
        await self._submit(clip)

    async def _submit(self, clip: Clip) -> None:
        if self._on_clip is None:
            return
        try:
            await self._on_clip(clip)
        except Exception as err:  # noqa: BLE001 - the file stays; taken again at the next start
            self.last_error = f"could not queue {clip.metadata.get('file_name')}: {err}"
            _LOGGER.warning("Camera %s: %s", self._camera_name, self.last_error)
            return
        self.clips_emitted += 1


def _probe(path: Path) -> tuple[float | None, int]:
    duration = probe_duration(path)
    return duration, _mtime_ns(path) or 0


def _mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        return


def _leftovers(root: Path) -> tuple[list[tuple[str, Path, int]], list[Snapshot]]:
    """Complete uploads an earlier run did not take: (videos, pictures)."""
    videos: list[tuple[str, Path, int]] = []
    pictures: list[Snapshot] = []
    if not root.is_dir():
        return videos, pictures
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            virtual = "/" + path.relative_to(root).as_posix()
            extension = os.path.splitext(name)[1].lower()
            try:
                info = path.stat()
            except OSError:
                continue
            if extension in VIDEO_EXTENSIONS:
                videos.append((virtual, path, info.st_size))
            elif extension in JPEG_EXTENSIONS:
                pictures.append(Snapshot(path, virtual, info.st_mtime_ns))
    # Assembled clips the pipeline did not get yet.
    events = root / EVENTS_DIR
    if events.is_dir():
        for path in sorted(events.glob("*.mp4")):
            videos.append((f"/{EVENTS_DIR}/{path.name}", path, path.stat().st_size))
    return videos, pictures
