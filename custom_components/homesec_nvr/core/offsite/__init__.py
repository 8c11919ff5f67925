"""Off-site copies of stored clips (Dropbox): errors, the target interface and the layout.

Local storage stays primary: a clip counts as stored once local storage has it. The off-site
copy is a stage of its own (copier.py) that runs after, never blocks an alert, and is retried
until it succeeds.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from ..interfaces import PermanentError, PipelineError


class OffsiteError(PipelineError):
    """A retryable failure of the off-site copy (rate limit, server error, network)."""


class OffsiteAuthError(PermanentError):
    """The grant was revoked or expired for good: the user must sign in again."""


class OffsiteSpaceError(PermanentError):
    """The off-site account is full: nothing more can be copied until space is freed."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file somewhere below a listed remote folder (path in lower case, as Dropbox has it)."""

    path: str
    size: int


class OffsiteTarget(ABC):
    """Where off-site copies go. Every method may raise the errors above."""

    name: str

    @abstractmethod
    async def account(self) -> str:
        """Who is signed in (a real call that validates the grant)."""

    @abstractmethod
    async def upload(self, local: Path, remote: str) -> int:
        """Copy a local file to a remote path (overwriting); return the bytes sent."""

    @abstractmethod
    async def delete(self, remote: str) -> bool:
        """Delete a remote file or folder; False when it did not exist."""

    @abstractmethod
    async def list_folder(self, remote: str) -> list[str]:
        """Names of a remote folder's entries (empty when it does not exist)."""

    @abstractmethod
    async def list_files(self, remote: str) -> list[RemoteFile]:
        """Every file below a remote folder, recursively (empty when it does not exist)."""

    @abstractmethod
    async def temporary_link(self, remote: str) -> str:
        """A short-lived download link of a remote file."""


_UNSAFE = re.compile(r'[\\/:?*"<>|\x00-\x1f]+')


def safe_name(name: str) -> str:
    """A file or folder name Dropbox takes (no separators, no reserved characters)."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned or "_"


def normalize_root(root: str) -> str:
    """'/HomeSec' from ' HomeSec/ ', '' or '/': the app folder's top is '/HomeSec'."""
    parts = [safe_name(p) for p in root.strip().split("/") if p.strip()]
    return "/" + "/".join(parts or ["HomeSec"])


def day_folder(root: str, camera: str, start: datetime, tz: tzinfo = UTC) -> str:
    """`/<root>/<camera>/<YYYY-MM-DD>` of a clip that started at `start` (local day)."""
    day = start.astimezone(tz).date().isoformat()
    return f"{normalize_root(root)}/{safe_name(camera)}/{day}"


def remote_path(root: str, camera: str, start: datetime, file_name: str, tz: tzinfo = UTC) -> str:
    """`/<root>/<camera>/<YYYY-MM-DD>/<file_name>`."""
    return f"{day_folder(root, camera, start, tz)}/{safe_name(file_name)}"


def parse_day(name: str) -> date | None:
    """The day of a `YYYY-MM-DD` folder name, None for anything else (also for the other
    forms `date.fromisoformat` takes, such as `20261201` or `2026-W49-2`: a folder of the
    user's by such a name is not one of HomeSec's and the retention never deletes it)."""
    if len(name) != 10 or name[4] != "-" or name[7] != "-":
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None
