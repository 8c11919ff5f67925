"""Local storage: clips copied under a root folder as `<camera>/<YYYY-MM-DD>/<clip>.mp4`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from pathlib import Path

from ..interfaces import PermanentError, PipelineError, StorageBackend
from ..models import Clip

# URIs hold the absolute path, so clips stored before the storage folder was changed stay
# reachable (for links, retention and deletion) after the change.
URI_SCHEME = "file:"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


def safe_name(value: str) -> str:
    """A file-system safe, readable name (camera names become folder names)."""
    cleaned = _UNSAFE.sub("_", value.strip().lower()).strip("._")
    return cleaned or "camera"


class LocalStorage(StorageBackend):
    """Copies clips into a folder; writes are atomic (temp file, then rename)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        """The storage folder."""
        return self._root

    def _relative(self, clip: Clip, suffix: str) -> Path:
        day = clip.start_ts.astimezone().strftime("%Y-%m-%d")
        return Path(safe_name(clip.camera_name)) / day / f"{safe_name(clip.clip_id)}{suffix}"

    async def put_clip(self, clip: Clip) -> str:
        rel = self._relative(clip, clip.path.suffix.lower() or ".mp4")
        await asyncio.get_running_loop().run_in_executor(None, self._copy, clip.path, rel)
        return URI_SCHEME + (self._root / rel).as_posix()

    async def put_snapshot(self, clip: Clip, jpeg: bytes) -> str:
        rel = self._relative(clip, ".jpg")
        await asyncio.get_running_loop().run_in_executor(None, self._write, jpeg, rel)
        return URI_SCHEME + (self._root / rel).as_posix()

    def _copy(self, source: Path, rel: Path) -> None:
        if not source.is_file():
            raise PermanentError(f"clip file {source} does not exist")
        target = self._root / rel
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except OSError as err:
            _discard(tmp)
            raise PipelineError(
                f"cannot store clip in {target.parent}: {err.strerror or err}"
            ) from err

    def _write(self, data: bytes, rel: Path) -> None:
        target = self._root / rel
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as err:
            _discard(tmp)
            raise PipelineError(
                f"cannot write snapshot in {target.parent}: {err.strerror or err}"
            ) from err

    async def delete(self, uri: str) -> int:
        path = self.local_path(uri)
        if path is None:
            return 0
        return await asyncio.get_running_loop().run_in_executor(None, _unlink, path)

    def local_path(self, uri: str) -> Path | None:
        if not uri.startswith(URI_SCHEME):
            return None
        path = Path(uri.removeprefix(URI_SCHEME))
        if not path.is_absolute() or ".." in path.parts:
            return None
        return path


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _unlink(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    # Remove the day and camera folders once they are empty.
    for parent in (path.parent, path.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break
    return size
