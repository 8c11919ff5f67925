"""Watched-folder source.

Polls a folder (polling works on network shares, where inotify does not), and hands a video
file over once its size and modification time have not changed for `stable_time_s`. The clip
id is derived from the file's path, size and mtime, so the pipeline's store dedupes a file
across restarts while a new file written under the same name is a new clip.

One odd file never stops the watcher: a file whose duration cannot be read is still handed
over (the pipeline then fails it visibly, with its error), and anything unexpected while
taking one file is logged with the camera and the file, counted in `files_failed`, and that
version of the file is skipped; later files keep arriving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..interfaces import ClipCallback, ClipSource, TaskFactory, default_task_factory
from ..media import probe_duration
from ..models import Clip
from ..storage.local import safe_name
from ..supervisor import SupervisedTask, TaskSupervisor

_LOGGER = logging.getLogger(__name__)

SOURCE_TYPE = "local_folder"
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".webm", ".3gp"}
)

# A longer duration than this in a file's header is not believed (the clip is kept, its start
# time then falls back to its modification time).
MAX_DURATION_S = 24 * 3600.0


@dataclass(slots=True)
class _Pending:
    size: int
    mtime_ns: int
    stable_since: float


def make_clip_id(camera_id: str, rel_path: str, size: int, mtime_ns: int) -> str:
    """Stable id of one version of one file."""
    digest = hashlib.sha1(  # noqa: S324 - an identifier, not security
        f"{camera_id}|{rel_path}|{size}|{mtime_ns}".encode()
    ).hexdigest()[:10]
    stem = safe_name(Path(rel_path).stem)[:40]
    return f"{stem}-{digest}"


def scan_folder(folder: Path, extensions: frozenset[str]) -> dict[str, tuple[int, int]]:
    """Video files directly in `folder`: name -> (size, mtime_ns). Hidden files are skipped."""
    found: dict[str, tuple[int, int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=True):
                continue
            if os.path.splitext(entry.name)[1].lower() not in extensions:
                continue
            try:
                stat = entry.stat(follow_symlinks=True)
            except FileNotFoundError:
                continue
            found[entry.name] = (stat.st_size, stat.st_mtime_ns)
    return found


def _duration_of(path: Path) -> float | None:
    """The file's duration, None when unreadable or absurd (the pipeline reports why)."""
    duration = probe_duration(path)
    if duration is None or not math.isfinite(duration) or not 0 <= duration <= MAX_DURATION_S:
        return None
    return duration


class LocalFolderSource(ClipSource):
    """Emits stable video files appearing in a folder."""

    source_type = SOURCE_TYPE

    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        folder: Path,
        poll_interval_s: float = 1.0,
        stable_time_s: float = 2.0,
        extensions: frozenset[str] = VIDEO_EXTENSIONS,
        create_task: TaskFactory = default_task_factory,
        supervisor: TaskSupervisor | None = None,
    ) -> None:
        self._camera_id = camera_id
        self._camera_name = camera_name
        self._folder = folder
        self._poll_interval_s = poll_interval_s
        self._stable_time_s = stable_time_s
        self._extensions = extensions
        self._supervisor = supervisor or TaskSupervisor(create_task=create_task)
        self._pending: dict[str, _Pending] = {}
        self._emitted: dict[str, tuple[int, int]] = {}
        self._watcher: SupervisedTask | None = None
        self.healthy = True
        self.last_error: str | None = None
        self.last_scan: datetime | None = None
        self.clips_emitted = 0
        self.files_failed = 0
        self.last_file_error: str | None = None

    async def start(self, on_clip: ClipCallback) -> None:
        # Supervised: should the loop die of a bug, it is restarted with backoff.
        self._watcher = self._supervisor.start(
            f"homesec folder watcher {self._camera_name}", lambda: self._run(on_clip)
        )

    async def stop(self) -> None:
        if self._watcher is not None:
            await self._supervisor.stop(self._watcher)
            self._watcher = None

    @property
    def watcher_failing(self) -> bool:
        """The watching loop died and was restarted, and has not run stably since."""
        return self._watcher is not None and self._watcher.failing

    def diagnostics(self) -> dict[str, Any]:
        return {
            "folder": str(self._folder),
            "healthy": self.healthy,
            "last_error": self.last_error,
            "last_scan": self.last_scan.isoformat() if self.last_scan else None,
            "files_pending": len(self._pending),
            "files_taken_present": len(self._emitted),
            "clips_emitted": self.clips_emitted,
            "files_failed": self.files_failed,
            "last_file_error": self.last_file_error,
            "watcher": self._watcher.health() if self._watcher else None,
        }

    async def _run(self, on_clip: ClipCallback) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                found = await loop.run_in_executor(
                    None, scan_folder, self._folder, self._extensions
                )
            except OSError as err:
                if self.healthy:
                    _LOGGER.warning(
                        "Camera %s: cannot read folder %s: %s",
                        self._camera_name,
                        self._folder,
                        err.strerror or err,
                    )
                self.healthy = False
                self.last_error = f"cannot read folder {self._folder}: {err.strerror or err}"
            else:
                if not self.healthy:
                    _LOGGER.info(
                        "Camera %s: folder %s readable again", self._camera_name, self._folder
                    )
                self.healthy = True
                self.last_error = None
                self.last_scan = datetime.now(UTC)
                for name in self._stable_files(found):
                    await self._take(name, found[name], on_clip)
            await asyncio.sleep(self._poll_interval_s)

    async def _take(self, name: str, stat: tuple[int, int], on_clip: ClipCallback) -> None:
        """Emit one file; whatever goes wrong with it, the watcher goes on with the others."""
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # The file system gave bytes that are not UTF-8 (Python keeps them as surrogates):
            # such a path cannot be stored, so it would fail again at every scan.
            self._skip(name, stat, "its name is not valid UTF-8; rename the file")
            _LOGGER.warning(
                "Camera %s: skipped %r in %s: its name is not valid UTF-8",
                self._camera_name,
                name,
                self._folder,
            )
            return
        try:
            await self._emit(name, stat, on_clip)
        except Exception as err:  # one file must never end the watcher
            self._skip(name, stat, f"{type(err).__name__}: {err}")
            _LOGGER.exception(
                "Camera %s: skipped %s in %s after an unexpected error",
                self._camera_name,
                name,
                self._folder,
            )

    def _skip(self, name: str, stat: tuple[int, int], reason: str) -> None:
        """Never take this version of the file again; count and report it."""
        self._pending.pop(name, None)
        self._emitted[name] = stat
        self.files_failed += 1
        self.last_file_error = f"skipped {name!r}: {reason}"

    def _stable_files(self, found: dict[str, tuple[int, int]]) -> list[str]:
        """Update the pending table; return the names that just became stable."""
        now = time.monotonic()
        ready: list[str] = []
        for table in (self._pending, self._emitted):
            for name in [name for name in table if name not in found]:
                # Gone (taken away or deleted after storing): forgotten, so the tables stay
                # as small as the folder; the same file again has the same clip id (deduped).
                del table[name]
        for name, (size, mtime_ns) in found.items():
            if self._emitted.get(name) == (size, mtime_ns):
                continue
            pending = self._pending.get(name)
            if pending is None or (pending.size, pending.mtime_ns) != (size, mtime_ns):
                self._pending[name] = _Pending(size, mtime_ns, now)
                continue
            if size > 0 and now - pending.stable_since >= self._stable_time_s:
                ready.append(name)
        return sorted(ready, key=lambda n: found[n][1])

    async def _emit(self, name: str, stat: tuple[int, int], on_clip: ClipCallback) -> None:
        size, mtime_ns = stat
        path = self._folder / name
        duration = await asyncio.get_running_loop().run_in_executor(None, _duration_of, path)
        if duration is None:
            _LOGGER.debug(
                "Camera %s: cannot read the duration of %s; handing it over anyway",
                self._camera_name,
                name,
            )
        end_ts = datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC)
        clip = Clip(
            clip_id=make_clip_id(self._camera_id, name, size, mtime_ns),
            camera_id=self._camera_id,
            camera_name=self._camera_name,
            source_type=SOURCE_TYPE,
            path=path,
            start_ts=end_ts - timedelta(seconds=duration or 0.0),
            end_ts=end_ts,
            metadata={"file_name": name, "size_bytes": size, "duration_s": duration},
        )
        self._pending.pop(name, None)
        self._emitted[name] = stat
        try:
            await on_clip(clip)
        except Exception as err:  # noqa: BLE001 - keep the file for the next scan
            del self._emitted[name]
            self.last_error = f"could not queue {name}: {err}"
            _LOGGER.warning(
                "Camera %s: could not queue %s, will retry: %s", self._camera_name, name, err
            )
            return
        self.clips_emitted += 1
