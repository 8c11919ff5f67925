"""Local storage: clips copied under a root folder as `<camera>/<YYYY-MM-DD>/<clip>.mp4`.

The root folder is never created while storing: a missing root (a network share that is not
mounted leaves a bare mount point), a root that is not a folder or is read-only makes the
storage unavailable (StorageUnavailableError): the clip's source is kept and the catch-up job
stores it later. Only the set-up path creates the root, explicitly, with `ensure_root()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import shutil
import stat
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from ..interfaces import PermanentError, PipelineError, StorageBackend, StorageUnavailableError
from ..models import Clip

# URIs hold the absolute path, so clips stored before the storage folder was changed stay
# reachable (for links, retention and deletion) after the change.
URI_SCHEME = "file:"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")
# Errors that say the folder cannot be written at all (rather than one file failing).
_UNAVAILABLE_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR})


def safe_name(value: str) -> str:
    """A file-system safe, readable name (camera names become folder names)."""
    cleaned = _UNSAFE.sub("_", value.strip().lower()).strip("._")
    return cleaned or "camera"


class LocalStorage(StorageBackend):
    """Copies clips into a folder; writes are atomic (temp file, then rename)."""

    name = "local"

    def __init__(self, root: Path, time_zone: Callable[[], tzinfo | None] | None = None) -> None:
        """Clips go to `root`/camera/day/, the day in `time_zone()` (default: the machine's)."""
        self._root = root
        self._time_zone = time_zone or (lambda: None)

    @property
    def root(self) -> Path:
        """The storage folder."""
        return self._root

    def ensure_root(self) -> None:
        """Blocking: create the storage folder (first-time set-up only).

        The one place the root is created; storing never creates it. Raises
        StorageUnavailableError when it cannot be created or is not a writable folder.
        """
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageUnavailableError(
                f"cannot create storage folder {self._root}: {err.strerror or err}"
            ) from err
        if (reason := self.unavailable_reason()) is not None:
            raise StorageUnavailableError(reason)

    def unavailable_reason(self) -> str | None:
        """Blocking: why the storage folder cannot take clips now, or None when it can."""
        root = self._root
        try:
            mode = os.stat(root).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return f"storage folder {root} does not exist (is its share mounted?)"
        except OSError as err:
            return f"storage folder {root} cannot be reached: {err.strerror or err}"
        if not stat.S_ISDIR(mode):
            return f"storage folder {root} is not a folder"
        if not os.access(root, os.W_OK | os.X_OK):
            return f"storage folder {root} is read-only"
        return None

    def _relative(self, clip: Clip, suffix: str) -> Path:
        day = clip.start_ts.astimezone(self._time_zone()).strftime("%Y-%m-%d")
        return Path(safe_name(clip.camera_name)) / day / f"{safe_name(clip.clip_id)}{suffix}"

    async def put_clip(self, clip: Clip) -> str:
        rel = self._relative(clip, clip.path.suffix.lower() or ".mp4")
        await asyncio.get_running_loop().run_in_executor(None, self._copy, clip.path, rel)
        return URI_SCHEME + (self._root / rel).as_posix()

    async def put_snapshot(self, clip: Clip, jpeg: bytes) -> str:
        rel = self._relative(clip, ".jpg")
        await asyncio.get_running_loop().run_in_executor(None, self._write, jpeg, rel)
        return URI_SCHEME + (self._root / rel).as_posix()

    def _folder_for(self, rel: Path) -> Path:
        """The camera/day folder of `rel`, created under the root (never the root itself)."""
        if (reason := self.unavailable_reason()) is not None:
            raise StorageUnavailableError(reason)
        folder = self._root
        for part in rel.parent.parts:
            folder = folder / part
            folder.mkdir(exist_ok=True)  # one level at a time: a vanished root is not remade
        return folder

    def _copy(self, source: Path, rel: Path) -> None:
        if not source.is_file():
            raise PermanentError(f"clip file {source} does not exist")
        target = self._root / rel
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            self._folder_for(rel)
            self._copy_file(source, tmp)
            os.replace(tmp, target)
        except OSError as err:
            _discard(tmp)
            raise self._failure("cannot store clip", target, err) from err
        except StorageUnavailableError as err:
            raise StorageUnavailableError(f"cannot store clip: {err}") from err

    def _copy_file(self, source: Path, tmp: Path) -> None:
        shutil.copyfile(source, tmp)

    def _write(self, data: bytes, rel: Path) -> None:
        target = self._root / rel
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            self._folder_for(rel)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as err:
            _discard(tmp)
            raise self._failure("cannot write snapshot", target, err) from err
        except StorageUnavailableError as err:
            raise StorageUnavailableError(f"cannot write snapshot: {err}") from err

    def _failure(self, what: str, target: Path, err: OSError) -> PipelineError:
        """Unavailable when the root went away or cannot be written; else a plain failure."""
        reason = self.unavailable_reason()
        if reason is None and err.errno in _UNAVAILABLE_ERRNOS:
            reason = f"storage folder {self._root} cannot be written: {err.strerror or err}"
        if reason is not None:
            return StorageUnavailableError(f"{what}: {reason}")
        return PipelineError(f"{what} in {target.parent}: {err.strerror or err}")

    async def delete(self, uri: str) -> int:
        path = self.local_path(uri)
        if path is None:
            return 0
        return await asyncio.get_running_loop().run_in_executor(None, self._delete, path)

    def _delete(self, path: Path) -> int:
        if path.is_relative_to(self._root) and (reason := self.unavailable_reason()) is not None:
            # A missing file under an unmounted root is not gone: never count it as deleted.
            raise StorageUnavailableError(f"cannot delete {path.name}: {reason}")
        return _unlink(path, self._root)

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


def _unlink(path: Path, root: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    # Remove the day and camera folders once they are empty (never the root).
    for parent in (path.parent, path.parent.parent):
        if parent == root:
            break
        try:
            parent.rmdir()
        except OSError:
            break
    return size
